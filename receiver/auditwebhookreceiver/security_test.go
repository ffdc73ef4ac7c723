package auditwebhookreceiver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/basicauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to
// dir and returns their paths and a pool trusting the certificate.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "auditwebhook test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestHTTPS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t, t.TempDir())
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, func(cfg *Config) {
		cfg.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{CertFile: certFile, KeyFile: keyFile}})
	}, sink)
	tlsClient := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}

	resp, err := tlsClient.Post("https://"+s.addr+"/glassix", "application/json", bytes.NewReader(testdata(t, "glassix_security.json")))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, sink.LogRecordCount())

	// Plain HTTP to the TLS port: Go's TLS server answers 400 (or the
	// connection fails); either way nothing is received.
	resp, err = client.Post("http://"+s.addr+"/glassix", "application/json", bytes.NewReader(testdata(t, "glassix_security.json")))
	if err == nil {
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	}
	assert.Equal(t, 1, sink.LogRecordCount(), "nothing received over plain HTTP")
}

// extHost serves extensions to the receiver, as the collector does.
type extHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func TestAuthExtension(t *testing.T) {
	ctx := context.Background()
	factory := basicauthextension.NewFactory()
	extCfg := factory.CreateDefaultConfig().(*basicauthextension.Config)
	extCfg.Htpasswd = &basicauthextension.HtpasswdSettings{Inline: "ctreplay:s3cret"}
	ext, err := factory.Create(ctx, extensiontest.NewNopSettings(factory.Type()), extCfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, nil))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	extID := component.NewID(factory.Type())
	host := extHost{exts: map[component.ID]component.Component{extID: ext}}

	cfg := testConfig(func(cfg *Config) {
		cfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: extID}})
	})
	sink := new(consumertest.LogsSink)
	rcv, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(ctx, host))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(ctx)) })
	s := &testServer{addr: rcv.addr.String(), rcv: rcv}

	body := []byte(`{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS"}`)
	r := s.post(t, "/ctreplay", body)
	assert.Equal(t, http.StatusUnauthorized, r.status, r.raw)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"), "confighttp's refusal answered in the receiver's format")
	assert.NotEmpty(t, r.body.Error)
	assert.Zero(t, sink.LogRecordCount())

	req, err := http.NewRequest(http.MethodPost, "http://"+s.addr+"/ctreplay", bytes.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth("ctreplay", "s3cret")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, sink.LogRecordCount())
}

func TestDuplicateDeliveryIsAcceptedAgain(t *testing.T) {
	// Vendors retry; the receiver acknowledges every delivery and leaves
	// deduplication (by event id) to the auditlog processor.
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	body := testdata(t, "glassix_informative.json")
	for range 2 {
		r := s.post(t, "/glassix", body)
		require.Equal(t, http.StatusOK, r.status, r.raw)
	}
	recs := records(t, sink, "glassix")
	require.Len(t, recs, 2)
	assert.Equal(t, attr(t, recs[0].Attributes(), "id"), attr(t, recs[1].Attributes(), "id"))
}

package sippy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTableIsTheSeeds(t *testing.T) {
	// Every code of seed 002's table, in order.
	want := []string{"A", "U", "D", "R", "AUTH_OK", "AUTH_FAIL", "AUTH_OTP", "OTP_RST", "PSWD_CHNG", "FUNDS",
		"CALL_DISC", "BRUN", "BRSTRT", "Q", "E", "CLR_FSTUSE", "EXT_LFTM", "SSLCRT_ISS", "FW_OPEN80", "RELAYED",
		"MFA_RQRD", "MFA_PEND", "MFA_SETUP", "MFA_VRFY", "MFA_FAIL", "MFA_RST", "MFA_RSTUSR"}
	var got []string
	for _, a := range All() {
		got = append(got, a.Code)
		assert.NotEmpty(t, a.Description, a.Code)
		assert.NotEmpty(t, a.Syntax, a.Code)
		assert.NotZero(t, a.Shape, a.Code)
	}
	assert.Equal(t, want, got)

	a, ok := Lookup("AUTH_FAIL")
	require.True(t, ok)
	assert.Equal(t, "Bad auth", a.Description)
	_, ok = Lookup("auth_fail")
	assert.False(t, ok, "codes are case-sensitive")
}

func TestParseResource(t *testing.T) {
	tests := []struct {
		name       string
		code, res  string
		want       Resource
		wantTarget string
	}{
		{"update with new value", "U", "accounts:i_account=5:balance=10",
			Resource{Table: "accounts", Keys: []KV{{"i_account", "5"}}, Fields: []KV{{"balance", "10"}}}, "accounts:i_account=5"},
		{"add with several keys and fields", "A", "rates:i_tariff=3,prefix=44:price=0.01,interval=60",
			Resource{Table: "rates", Keys: []KV{{"i_tariff", "3"}, {"prefix", "44"}}, Fields: []KV{{"price", "0.01"}, {"interval", "60"}}}, "rates:i_tariff=3,prefix=44"},
		{"new value holding a comma and a colon", "U", "customers:i_customer=9:description=a,b:c",
			Resource{Table: "customers", Keys: []KV{{"i_customer", "9"}}, Fields: []KV{{"description", "a,b:c"}}}, "customers:i_customer=9"},
		{"delete", "D", "accounts:i_account=5",
			Resource{Table: "accounts", Keys: []KV{{"i_account", "5"}}}, "accounts:i_account=5"},
		{"clear first use", "CLR_FSTUSE", "accounts:i_accout=7",
			Resource{Table: "accounts", Keys: []KV{{"i_accout", "7"}}}, "accounts:i_accout=7"},
		{"bad auth", "AUTH_FAIL", "customer:username=bob",
			Resource{Entity: "customer", Keys: []KV{{"username", "bob"}}}, "customer:username=bob"},
		{"auth by email", "AUTH_OK", "account:email=a@b.example",
			Resource{Entity: "account", Keys: []KV{{"email", "a@b.example"}}}, "account:email=a@b.example"},
		{"otp reset by id", "OTP_RST", "vendor:i_vendor=12",
			Resource{Entity: "vendor", Keys: []KV{{"i_vendor", "12"}}}, "vendor:i_vendor=12"},
		{"password change", "PSWD_CHNG", "i_web_user=3726",
			Resource{Keys: []KV{{"i_web_user", "3726"}}}, "i_web_user=3726"},
		{"keys only", "BRUN", "i_account=7", Resource{Keys: []KV{{"i_account", "7"}}}, "i_account=7"},
		{"relayed", "RELAYED", "i_environment=2,method=getAccountInfo",
			Resource{Keys: []KV{{"i_environment", "2"}, {"method", "getAccountInfo"}}}, "i_environment=2,method=getAccountInfo"},
		{"funds", "FUNDS", "credit:i_account=7:amount=10.50",
			Resource{Operation: "credit", Keys: []KV{{"i_account", "7"}}, Fields: []KV{{"amount", "10.50"}}}, "i_account=7"},
		{"mfa", "MFA_FAIL", "web_user:main_admin:totp",
			Resource{Entity: "web_user", Username: "main_admin", MFAType: "totp"}, "web_user:main_admin"},
		{"mfa with detail", "MFA_SETUP", "customer:bob:email:b@x.example",
			Resource{Entity: "customer", Username: "bob", MFAType: "email", MFADetail: "b@x.example"}, "customer:bob"},
		{"system", "MFA_RST", "system", Resource{Entity: "system"}, "system"},
		{"user reset", "MFA_RSTUSR", "user_type=web_user,user_id=3726",
			Resource{Keys: []KV{{"user_type", "web_user"}, {"user_id", "3726"}}}, "user_type=web_user,user_id=3726"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResource(tt.code, tt.res)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			a, _ := Lookup(tt.code)
			assert.Equal(t, tt.wantTarget, got.Target(a.Shape))
		})
	}
}

func TestParseResourceErrorsKeepWhatWasRead(t *testing.T) {
	tests := []struct {
		name, code, res string
		wantErr         string
		want            Resource
	}{
		{"unknown code", "ZAP", "x", `unknown Sippy action code "ZAP"`, Resource{}},
		{"empty", "U", "", "U: empty resource, want table_name:key1=val1[,key2=val2...]:field1=newval1", Resource{}},
		{"table without keys", "D", "accounts", `D resource "accounts": no keys`, Resource{Table: "accounts"}},
		{"auth without entity", "AUTH_FAIL", "username=bob", `AUTH_FAIL resource "username=bob": no ':'`, Resource{Entity: "username=bob"}},
		{"keys without value", "BRUN", "7", `BRUN resource "7": no key=value`, Resource{Keys: []KV{{Key: "7"}}}},
		{"funds short", "FUNDS", "add:i_account=7", `FUNDS resource "add:i_account=7": missing parts`, Resource{Operation: "add", Keys: []KV{{"i_account", "7"}}}},
		{"mfa short", "MFA_RQRD", "customer:bob", `MFA_RQRD resource "customer:bob": missing parts`, Resource{Entity: "customer", Username: "bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResource(tt.code, tt.res)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseActor(t *testing.T) {
	tests := []struct {
		in       string
		want     Actor
		kindName string
		stableID string
	}{
		// The four examples of seed 002.
		{"u:1:3726:main_admin", Actor{"u", "1", "3726", "main_admin"}, "web_user", "u:1:3726"},
		{"v:105532:0:1743624'22", Actor{"v", "105532", "0", "1743624'22"}, "vendor", "v:105532:0"},
		{"c:1:0:000123", Actor{"c", "1", "0", "000123"}, "customer", "c:1:0"},
		{"t:0:0:2.2.2.2", Actor{"t", "0", "0", "2.2.2.2"}, "trusted_xmlapi", "t:0:0"},
		{"a:7:0:user:with:colons", Actor{"a", "7", "0", "user:with:colons"}, "account", "a:7:0"},
		{"t:0:0:2001:db8::1", Actor{"t", "0", "0", "2001:db8::1"}, "trusted_xmlapi", "t:0:0"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseActor(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.kindName, got.KindName())
			assert.Equal(t, tt.stableID, got.StableID())
		})
	}
}

func TestParseActorErrors(t *testing.T) {
	got, err := ParseActor("u:1:3726")
	assert.EqualError(t, err, `actor "u:1:3726": want kind:id:sub_id:name`)
	assert.Equal(t, Actor{Kind: "u", ID: "1", SubID: "3726"}, got)

	got, err = ParseActor("x:1:2:bob")
	assert.EqualError(t, err, `actor "x:1:2:bob": unknown kind "x", want one of u, a, c, v, t`)
	assert.Equal(t, "bob", got.Name)
	assert.Equal(t, "x", got.KindName())

	_, err = ParseActor("")
	assert.Error(t, err)
}

// Package auditwebhookreceiver implements the auditwebhook receiver: an
// HTTP(S) endpoint that takes the audit events of Glassix (signed
// webhooks), CTReplay and Sippy Softswitch, turns each event into one log
// record following the project's record contract (ARCHITECTURE.md), and answers
// 2xx only once the pipeline has accepted every event of the request.
package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

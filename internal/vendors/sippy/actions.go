// Package sippy:  is Sippy Softswitch's audit vocabulary (seed 002, the
// Audit Logs Viewer page): the field names of an audit record, the action
// codes with the description the viewer shows as a hint and the syntax of
// their resource, the parser of that resource, and the parser of the
// "Action by" actor string. The auditwebhook receiver reads records by these
// field names; the auditlog processor uses the rest to normalize Sippy
// records; the archive viewer uses it for its hints.
package sippy // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"

import (
	"fmt"
	"strings"
)

// The fields of a Sippy audit record: the Audit Logs Viewer's columns
// Resource, Action, Action by, Date and User IP/Node, as the auditwebhook
// receiver takes them.
const (
	FieldResource = "resource"
	FieldAction   = "action"
	FieldActionBy = "action_by"
	FieldDate     = "date"
	FieldUserIP   = "user_ip"
)

// Shape is the form of an action's resource string.
type Shape int

const (
	// ShapeTable is table_name:key1=val1[,key2=val2...][:field1=newval1[,...]].
	ShapeTable Shape = iota + 1
	// ShapeEntityKey is entity:key=value (customer:username=bob).
	ShapeEntityKey
	// ShapeKeys is key=value[,key=value...] (i_account=7).
	ShapeKeys
	// ShapeOperation is operation:key=value:field=value (FUNDS).
	ShapeOperation
	// ShapeMFA is entity:username:MFA_type[:MFA_type_specific].
	ShapeMFA
	// ShapeEntity is a bare entity name (system).
	ShapeEntity
)

// Action describes one action code.
type Action struct {
	Code string
	// Description is the viewer's hint, worded as in the vendor's table.
	Description string
	// Syntax is the resource syntax as the vendor documents it.
	Syntax string
	Shape  Shape
}

// actions is seed 002's table, in its order.
var actions = []Action{
	{"A", "Add a record to a table", "table_name:key1=val1[,key2=val2...]:field1=newval1", ShapeTable},
	{"U", "Update a record", "table_name:key1=val1[,key2=val2...]:field1=newval1", ShapeTable},
	{"D", "Delete record", "table_name:key1=val1[,key2=val2...]", ShapeTable},
	{"R", "Restore record", "table_name:key1=val1[,key2=val2...]", ShapeTable},
	{"AUTH_OK", "Successful auth", "customer|account|vendor:username|email=value", ShapeEntityKey},
	{"AUTH_FAIL", "Bad auth", "customer|account|vendor:username|email=value", ShapeEntityKey},
	{"AUTH_OTP", "Successful auth using OTP", "customer|account|vendor:username|email=value", ShapeEntityKey},
	{"OTP_RST", "Reset one time password", "customer|account|vendor|system:username|i_customer|i_accout|i_vendor", ShapeEntityKey},
	{"PSWD_CHNG", "Web Password change", "i_customer|i_web_user|i_account|i_vendor=id", ShapeKeys},
	{"FUNDS", "Add funds/Debit/Credit", "add|credit|debit|recharge:i_customer|i_account|i_vendor=id:amount|voucher_id=val", ShapeOperation},
	{"CALL_DISC", "Disconnect call", "i_call|i_account=id", ShapeKeys},
	{"BRUN", "Billing run", "i_account=id", ShapeKeys},
	{"BRSTRT", "Billing restart", "i_account=id", ShapeKeys},
	{"Q", "Queue an action", "table_name:key1=val1[,key2=val2...]:field1=newval1", ShapeTable},
	{"E", "Execute an action", "table_name:key1=val1[,key2=val2...]:field1=newval1", ShapeTable},
	{"CLR_FSTUSE", "Clear First Use timestamp", "accounts:i_accout=id", ShapeTable},
	{"EXT_LFTM", "Extend Lifetime", "accounts:i_accout=id", ShapeTable},
	{"SSLCRT_ISS", "Issue SSL Certificate", "i_environment=id", ShapeKeys},
	{"FW_OPEN80", "Open TCP 80 port", "i_environment=id", ShapeKeys},
	{"RELAYED", "XMLAPI relayed to another environment", "i_environment=id,method=methodName[,methodSpecificResource]", ShapeKeys},
	{"MFA_RQRD", "MFA required", "customer|vendor|web_user:username:MFA_type", ShapeMFA},
	{"MFA_PEND", "MFA pending until setup done", "customer|vendor|web_user:username:MFA_type[:MFA_type_specific]", ShapeMFA},
	{"MFA_SETUP", "MFA setup done", "customer|vendor|web_user:username:MFA_type[:MFA_type_specific]", ShapeMFA},
	{"MFA_VRFY", "MFA verification passed", "customer|vendor|web_user:username:MFA_type[:MFA_type_specific]", ShapeMFA},
	{"MFA_FAIL", "MFA required, but failed", "customer|vendor|web_user:username:MFA_type", ShapeMFA},
	{"MFA_RST", "Reset MFA configs, tokens and validations for ALL users", "system", ShapeEntity},
	{"MFA_RSTUSR", "Reset MFA configs, tokens and validations for a specific user", "user_type=type,user_id=id", ShapeKeys},
}

var byCode = func() map[string]Action {
	m := make(map[string]Action, len(actions))
	for _, a := range actions {
		m[a.Code] = a
	}
	return m
}()

// Lookup returns the action with this code; codes are case-sensitive, as
// Sippy writes them.
func Lookup(code string) (Action, bool) {
	a, ok := byCode[code]
	return a, ok
}

// All returns every action in the vendor's table order.
func All() []Action {
	return append([]Action(nil), actions...)
}

// KV is one key=value pair of a resource. Value is empty when the resource
// names a key without a value.
type KV struct{ Key, Value string }

// Resource is a parsed resource string. Which fields are set depends on the
// action's Shape.
type Resource struct {
	Table     string // ShapeTable: the table touched
	Entity    string // ShapeEntityKey, ShapeMFA, ShapeEntity: customer, account, vendor, web_user, system
	Operation string // ShapeOperation: add, credit, debit, recharge
	Keys      []KV   // the keys that identify the record or user
	Fields    []KV   // ShapeTable: the new field values; ShapeOperation: amount or voucher_id
	Username  string // ShapeMFA
	MFAType   string // ShapeMFA
	MFADetail string // ShapeMFA: the MFA_type_specific part
}

// Target is what the action was done to, without new values: "accounts:i_account=5",
// "customer:username=bob", "i_account=7", "customer:bob".
func (r Resource) Target(shape Shape) string {
	keys := joinKVs(r.Keys)
	switch shape {
	case ShapeTable:
		return joinNonEmpty(":", r.Table, keys)
	case ShapeEntityKey:
		return joinNonEmpty(":", r.Entity, keys)
	case ShapeMFA:
		return joinNonEmpty(":", r.Entity, r.Username)
	case ShapeEntity:
		return r.Entity
	}
	return keys
}

func joinKVs(kvs []KV) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = kv.Key
		if kv.Value != "" {
			parts[i] += "=" + kv.Value
		}
	}
	return strings.Join(parts, ",")
}

func joinNonEmpty(sep string, parts ...string) string {
	out := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// ParseResource reads the resource of an action with this code. The error
// says what did not fit the documented syntax; the Resource then holds what
// could be read, so callers can keep it and flag the record.
func ParseResource(code, resource string) (Resource, error) {
	a, ok := Lookup(code)
	if !ok {
		return Resource{}, fmt.Errorf("unknown Sippy action code %q", code)
	}
	var r Resource
	if resource == "" {
		return r, fmt.Errorf("%s: empty resource, want %s", code, a.Syntax)
	}
	want := func(what string) error {
		return fmt.Errorf("%s resource %q: %s, want %s", code, resource, what, a.Syntax)
	}
	switch a.Shape {
	case ShapeTable:
		parts := strings.SplitN(resource, ":", 3)
		r.Table = parts[0]
		if len(parts) < 2 {
			return r, want("no keys")
		}
		r.Keys = parseKVs(parts[1])
		if len(parts) == 3 {
			r.Fields = parseKVs(parts[2])
		}
	case ShapeEntityKey:
		entity, rest, found := strings.Cut(resource, ":")
		r.Entity = entity
		if !found {
			return r, want("no ':'")
		}
		r.Keys = parseKVs(rest)
	case ShapeKeys:
		r.Keys = parseKVs(resource)
		if !strings.Contains(resource, "=") {
			return r, want("no key=value")
		}
	case ShapeOperation:
		parts := strings.SplitN(resource, ":", 3)
		r.Operation = parts[0]
		if len(parts) < 3 {
			if len(parts) == 2 {
				r.Keys = parseKVs(parts[1])
			}
			return r, want("missing parts")
		}
		r.Keys = parseKVs(parts[1])
		r.Fields = parseKVs(parts[2])
	case ShapeMFA:
		parts := strings.SplitN(resource, ":", 4)
		r.Entity = parts[0]
		if len(parts) < 3 {
			if len(parts) == 2 {
				r.Username = parts[1]
			}
			return r, want("missing parts")
		}
		r.Username, r.MFAType = parts[1], parts[2]
		if len(parts) == 4 {
			r.MFADetail = parts[3]
		}
	case ShapeEntity:
		r.Entity = resource
	}
	return r, nil
}

// parseKVs splits "k1=v1,k2=v2". A comma-separated piece without '=' after a
// pair is taken to be part of the previous value (a value holding a comma);
// one that comes first is a key without a value.
func parseKVs(s string) []KV {
	if s == "" {
		return nil
	}
	var out []KV
	for _, piece := range strings.Split(s, ",") {
		k, v, found := strings.Cut(piece, "=")
		switch {
		case found:
			out = append(out, KV{Key: k, Value: v})
		case len(out) > 0 && out[len(out)-1].Value != "":
			out[len(out)-1].Value += "," + piece
		default:
			out = append(out, KV{Key: piece})
		}
	}
	return out
}

// Actor is a parsed "Action by" string, kind:id:sub_id:name.
type Actor struct {
	Kind  string // u, a, c, v or t
	ID    string // i_customer owning the web user; i_account, i_customer, i_vendor; 0 for t
	SubID string // i_web_user for u; 0 otherwise
	Name  string // login or username; the environment's IP address for t
}

var kindNames = map[string]string{
	"u": "web_user",
	"a": "account",
	"c": "customer",
	"v": "vendor",
	"t": "trusted_xmlapi",
}

// KindName spells the kind out: web_user, account, customer, vendor,
// trusted_xmlapi; the letter itself when unknown.
func (a Actor) KindName() string {
	if n, ok := kindNames[a.Kind]; ok {
		return n
	}
	return a.Kind
}

// StableID identifies the actor independently of its name: "u:1:3726".
func (a Actor) StableID() string {
	return a.Kind + ":" + a.ID + ":" + a.SubID
}

// ParseActor reads "u:1:3726:main_admin". It splits on the first three
// colons only, so names keep any colons and quotes they hold
// (v:105532:0:1743624'22). The error says what does not fit; the Actor then
// holds what could be read.
func ParseActor(s string) (Actor, error) {
	parts := strings.SplitN(s, ":", 4)
	var a Actor
	a.Kind = parts[0]
	if len(parts) > 1 {
		a.ID = parts[1]
	}
	if len(parts) > 2 {
		a.SubID = parts[2]
	}
	if len(parts) < 4 {
		return a, fmt.Errorf("actor %q: want kind:id:sub_id:name", s)
	}
	a.Name = parts[3]
	if _, ok := kindNames[a.Kind]; !ok {
		return a, fmt.Errorf("actor %q: unknown kind %q, want one of u, a, c, v, t", s, a.Kind)
	}
	return a, nil
}

package glassix

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGlassixFailurePattern(t *testing.T) {
	for typ, failure := range map[string]bool{
		"LoginFailed": true, "FailedLogin": true, "AccessDenied": true, "TokenRejected": true, "InvalidPassword": true,
		"UnauthorizedAccess": true, "UnauthorisedAccess": true, "UserLockedOut": false, "PasswordChanged": false, "UserRemoved": false,
	} {
		assert.Equal(t, failure, Failure(typ), typ)
	}
}

package examples

import (
	"testing"

	"go.uber.org/goleak"
)

// The example configs' tests run their receivers in process; nothing they
// start may outlive them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

package ctreplay

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitAction(t *testing.T) {
	// Every action of seed 001's list.
	for action, want := range map[string][2]string{
		"GET ALL Profile": {"GET ALL", "Profile"}, "GET Profile": {"GET", "Profile"},
		"DELETE Profile": {"DELETE", "Profile"}, "SAVE Profile": {"SAVE", "Profile"},
		"SET tag": {"SET", "tag"}, "SET reopen": {"SET", "reopen"}, "SEARCH Recording": {"SEARCH", "Recording"},
		"DELETE Recording": {"DELETE", "Recording"}, "GET wave form": {"GET", "wave form"},
		"DOWNLOAD Recording": {"DOWNLOAD", "Recording"}, "PLAY Recording": {"PLAY", "Recording"},
		"GET USERS": {"GET", "USERS"}, "GETALL x": {"GETALL", "x"}, "EXPORT": {"EXPORT", ""}, "": {"", ""},
	} {
		verb, object := SplitAction(action)
		assert.Equal(t, want, [2]string{verb, object}, action)
	}
}

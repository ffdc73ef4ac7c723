// Package testlint holds checks that read the repository's own tests and
// fail on patterns that make a test hang or pass when it should fail. It has
// no code of its own: the checks are its tests.
package testlint

package host_test

import "testing"

// The Rust examples (modules/rust, built with sdk/rust by make rust-modules)
// pass the same scenarios as the Go ones: the SDKs differ, the durability
// they give does not.

func TestRustExportResumesFromCursorAfterInterrupts(t *testing.T) {
	testExportResumesFromCursorAfterInterrupts(t, "rust/export")
}

func TestRustReceiptChargesAndSendsOnce(t *testing.T) {
	testReceiptChargesAndSendsOnce(t, "rust/receipt")
}

func TestRustSignupActivatesAfterConfirmation(t *testing.T) {
	testSignupActivatesAfterConfirmation(t, "rust/signup")
}

func TestRustSignupCompensatesWhenTheEmailKeepsFailing(t *testing.T) {
	testSignupCompensatesWhenTheEmailKeepsFailing(t, "rust/signup")
}

func TestRustFanOutOfAHundred(t *testing.T) {
	testFanOutOfAHundred(t, "rust/fanout")
}

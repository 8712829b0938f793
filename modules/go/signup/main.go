// Command signup is the example of seed 000 (foreground vs background is the
// wrong split): a user signs up, gets an account, is sent an activation email
// and is activated once they confirm it. The whole story reads top to bottom
// in one function, although part of it may run inside the HTTP request
// (POST /v1/runs?wait=5s), part in the background, and part days later when
// the person clicks the link (the signal "email-confirmed").
//
// It is also a saga: if the activation email cannot be sent after all its
// retries, the account and the user are deleted again, in reverse order, by
// compensation steps, and the run fails.
//
// Input:
//
//	{"email": "ada@example.com", "fail_email": false, "confirm_timeout_ms": 86400000}
//
// fail_email makes the email effect fail every time; confirm_timeout_ms
// (default one day) bounds the wait for the confirmation.
package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

// Input is the workflow's input.
type Input struct {
	Email            string `json:"email"`
	FailEmail        bool   `json:"fail_email"`
	ConfirmTimeoutMS *int64 `json:"confirm_timeout_ms"`
}

// Output summarises the signup.
type Output struct {
	UserID      string    `json:"user_id"`
	AccountID   string    `json:"account_id"`
	EmailID     string    `json:"email_id"`
	Confirmed   bool      `json:"confirmed"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
}

// Confirmation is the payload of the "email-confirmed" signal.
type Confirmation struct {
	Token string `json:"token"`
}

func init() {
	wasmflow.Workflow("signup", signup)
}

func signup(ctx *wasmflow.Context, in Input) (Output, error) {
	if !strings.Contains(in.Email, "@") {
		return Output{}, fmt.Errorf("signup: %q is not an email address", in.Email)
	}
	var out Output
	var err error

	out.UserID, err = wasmflow.Step(ctx, "create_user", func(s *wasmflow.StepContext) (string, error) {
		return newID(s, "usr_"), nil
	})
	if err != nil {
		return out, err
	}
	ctx.Compensate("delete_user", func(s *wasmflow.StepContext) error {
		s.Context().Logger().Warn("deleting user", "user_id", out.UserID)
		return nil
	})

	out.AccountID, err = wasmflow.Step(ctx, "create_account", func(s *wasmflow.StepContext) (string, error) {
		return newID(s, "acc_"), nil
	})
	if err != nil {
		return out, err
	}
	ctx.Compensate("delete_account", func(s *wasmflow.StepContext) error {
		s.Context().Logger().Warn("deleting account", "account_id", out.AccountID)
		return nil
	})

	// The email is an effect: recorded once sent, and sent again with the
	// same idempotency key only if a crash hid whether it went out.
	out.EmailID, err = wasmflow.Step(ctx, "send_activation_email", func(s *wasmflow.StepContext) (string, error) {
		return wasmflow.Effect(s, "email", func(key string) (string, error) {
			if in.FailEmail {
				return "", errors.New("smtp: 550 mailbox unavailable")
			}
			s.Context().Logger().Info("sending activation email", "to", in.Email, "idempotency_key", key)
			return "msg_" + strings.ReplaceAll(key, "/", "_"), nil
		})
	}, wasmflow.MaxAttempts(3), wasmflow.Backoff(100*time.Millisecond, time.Second))
	if err != nil {
		// Compensation (delete_account, then delete_user) runs before the
		// run fails with this error.
		return out, err
	}

	timeout := 24 * time.Hour
	if in.ConfirmTimeoutMS != nil {
		timeout = time.Duration(*in.ConfirmTimeoutMS) * time.Millisecond
	}
	_, confirmed, err := wasmflow.AwaitSignal[Confirmation](ctx, "email-confirmed", timeout)
	if err != nil {
		return out, err
	}
	if !confirmed {
		ctx.Logf("email of user %s was not confirmed within %s", out.UserID, timeout)
		return out, nil
	}
	out.Confirmed = true

	out.ActivatedAt, err = wasmflow.Step(ctx, "activate", func(s *wasmflow.StepContext) (time.Time, error) {
		return s.Context().Now().UTC(), nil
	})
	return out, err
}

// newID makes an id from fresh random bytes (inside a step the host's random
// source is real; the id is recorded with the step's output).
func newID(s *wasmflow.StepContext, prefix string) string {
	b := make([]byte, 8)
	s.Context().Random(b)
	return prefix + hex.EncodeToString(b)
}

func main() {}

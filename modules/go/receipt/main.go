// Command receipt is the example of seed 001 (queues give at-least-once, not
// correctness): charge an order and email its receipt, where a worker that
// crashes after sending and before recording would send it twice. Each side
// effect is an Effect: the host records that it started and what it
// returned, and hands it a stable idempotency key. A repeated execution
// after a crash reuses the key (the fake payment provider below derives the
// charge id from it, as a real one deduplicates on it) and the timeline
// marks the effect uncertain.
//
// Input:
//
//	{"order_id": "ord_1", "amount_cents": 1999, "email": "ada@example.com"}
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

// Input is the workflow's input.
type Input struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Email       string `json:"email"`
}

// Charge is the outcome of charge_payment.
type Charge struct {
	ChargeID string `json:"charge_id"`
	Key      string `json:"key"`
}

// Receipt is the outcome of send_receipt.
type Receipt struct {
	MessageID string `json:"message_id"`
	Key       string `json:"key"`
}

// Output summarises what happened, with the keys the effects ran with.
type Output struct {
	OrderID   string    `json:"order_id"`
	ChargeID  string    `json:"charge_id"`
	ChargeKey string    `json:"charge_key"`
	MessageID string    `json:"message_id"`
	EmailKey  string    `json:"email_key"`
	SentAt    time.Time `json:"sent_at"`
}

func init() {
	wasmflow.Workflow("receipt", receipt)
}

func receipt(ctx *wasmflow.Context, in Input) (Output, error) {
	if in.OrderID == "" || in.AmountCents <= 0 || in.Email == "" {
		return Output{}, fmt.Errorf("receipt: order_id, a positive amount_cents and email are required")
	}

	charge, err := wasmflow.Step(ctx, "charge_payment", func(s *wasmflow.StepContext) (Charge, error) {
		return wasmflow.Effect(s, "charge", func(key string) (Charge, error) {
			// A real provider is sent the key (an Idempotency-Key header) and
			// answers a repeat with the first charge; the fake derives it.
			s.Context().Logger().Info("charging", "order_id", in.OrderID, "amount_cents", in.AmountCents, "idempotency_key", key)
			return Charge{ChargeID: "ch_" + digest(key), Key: key}, nil
		})
	})
	if err != nil {
		return Output{}, err
	}

	sent, err := wasmflow.Step(ctx, "send_receipt", func(s *wasmflow.StepContext) (Receipt, error) {
		return wasmflow.Effect(s, "email", func(key string) (Receipt, error) {
			s.Context().Logger().Info("emailing receipt", "to", in.Email, "charge_id", charge.ChargeID, "idempotency_key", key)
			return Receipt{MessageID: "msg_" + digest(key), Key: key}, nil
		})
	})
	if err != nil {
		return Output{}, err
	}

	sentAt, err := wasmflow.Step(ctx, "mark_sent", func(s *wasmflow.StepContext) (time.Time, error) {
		return s.Context().Now().UTC(), nil
	})
	if err != nil {
		return Output{}, err
	}

	return Output{
		OrderID:   in.OrderID,
		ChargeID:  charge.ChargeID,
		ChargeKey: charge.Key,
		MessageID: sent.MessageID,
		EmailKey:  sent.Key,
		SentAt:    sentAt,
	}, nil
}

func digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

func main() {}

package wasmflow

import (
	"encoding/json"
	"fmt"

	"github.com/wasmflow/wasmflow/abi"
)

// Effect performs fn, a side effect on the outside world (a payment, an
// email), as the effect name of the current step, and records its result.
//
// fn receives the effect's idempotency key, "RUN_ID/STEP_SEQ/EFFECT_SEQ",
// the same for every execution of this effect: pass it to the remote side
// (an Idempotency-Key header, a payment's client reference) so that it can
// recognise a repeat. The host records that the effect started before fn
// runs and its outcome after. If a crash falls in between, the next
// execution of the step runs fn again with the same key (the timeline marks
// the effect uncertain). Once the outcome is recorded, Effect returns the
// recorded result, decoded from JSON, without running fn, whether the step
// resumed from a checkpoint or is retried.
//
// An error from fn is recorded and returned as is (a Permanent error is
// recorded as permanent); return it from the step body to have the step
// retried per its policy, which runs fn again with the same key. A panic in
// fn is recorded as an error whose message starts with "panic: ".
func Effect[T any](s *StepContext, name string, fn func(key string) (T, error)) (T, error) {
	var zero T
	r := hostEffectBegin(name)
	reg := result()
	if r == abi.EffectDone {
		var v T
		if err := json.Unmarshal(reg, &v); err != nil {
			return zero, fmt.Errorf("wasmflow: the recorded result of effect %q does not decode into %T: %w", name, v, err)
		}
		return v, nil
	}
	v, err := runEffect(string(reg), fn)
	if err != nil {
		status := uint32(abi.EndError)
		if isPermanent(err) {
			status = abi.EndPermanent
		}
		hostEffectEnd(status, []byte(err.Error()))
		return zero, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		err = Permanent(fmt.Errorf("wasmflow: the result of effect %q does not encode as JSON: %w", name, err))
		hostEffectEnd(abi.EndPermanent, []byte(err.Error()))
		return zero, err
	}
	hostEffectEnd(abi.EndOK, out)
	var dec T
	if err := json.Unmarshal(out, &dec); err != nil {
		return zero, fmt.Errorf("wasmflow: the result of effect %q does not decode into %T: %w", name, dec, err)
	}
	return dec, nil
}

func runEffect[T any](key string, fn func(key string) (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(key)
}

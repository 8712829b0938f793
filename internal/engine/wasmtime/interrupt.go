//go:build cgo

package wasmtime

// The epoch deadline callback: wasmtime-go does not expose
// wasmtime_store_epoch_deadline_callback, so it is declared here (the symbol
// comes from the libwasmtime.a that wasmtime-go links). Every store gets a
// deadline of one epoch tick; when it passes, wasmtime calls epochCallback,
// which either extends the deadline by another tick or, once the Call's
// context is done (the stop flag set from Go), ends the guest with an error.
// This is what lets a cancelled context stop a guest spinning in a loop
// promptly: generated code caches the store's deadline, so lowering it from
// another goroutine would not be seen until the old deadline passed.

/*
#include <stdint.h>
#include <stdlib.h>

typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;

extern void wasmtime_store_epoch_deadline_callback(
    wasmtime_store_t *store,
    wasmtime_error_t *(*func)(wasmtime_context_t *context, void *data,
                              uint64_t *epoch_deadline_delta,
                              uint8_t *update_kind),
    void *data, void (*finalizer)(void *));
extern wasmtime_error_t *wasmtime_error_new(const char *);

static wasmtime_error_t *wasmflow_epoch_cb(wasmtime_context_t *cx, void *data,
                                           uint64_t *delta, uint8_t *kind) {
	if (__atomic_load_n((int32_t *)data, __ATOMIC_ACQUIRE) != 0) {
		return wasmtime_error_new("wasmflow: guest stopped (context done)");
	}
	*delta = 1;
	*kind = 0; // WASMTIME_UPDATE_DEADLINE_CONTINUE
	return NULL;
}

static void wasmflow_set_epoch_cb(void *store, int32_t *flag) {
	wasmtime_store_epoch_deadline_callback((wasmtime_store_t *)store, wasmflow_epoch_cb, flag, NULL);
}

static int32_t *wasmflow_new_flag(void) {
	int32_t *f = (int32_t *)malloc(sizeof(int32_t));
	*f = 0;
	return f;
}
*/
import "C"

import (
	"reflect"
	"sync/atomic"
	"unsafe"

	wt "github.com/bytecodealliance/wasmtime-go/v39"
)

// stopFlag is a C-allocated flag the epoch callback reads.
type stopFlag struct{ p *C.int32_t }

func newStopFlag() stopFlag { return stopFlag{C.wasmflow_new_flag()} }

func (f stopFlag) ptr() *int32 { return (*int32)(unsafe.Pointer(f.p)) }

func (f stopFlag) set()        { atomic.StoreInt32(f.ptr(), 1) }
func (f stopFlag) clear()      { atomic.StoreInt32(f.ptr(), 0) }
func (f stopFlag) isSet() bool { return atomic.LoadInt32(f.ptr()) != 0 }
func (f stopFlag) free()       { C.free(unsafe.Pointer(f.p)) }

// installEpochCallback registers the callback on store. The store's C
// pointer is wasmtime-go's unexported Store._ptr, read with reflect (which
// may read, not write, unexported fields); a layout change fails loudly here.
func installEpochCallback(store *wt.Store, f stopFlag) {
	v := reflect.ValueOf(store).Elem().FieldByName("_ptr")
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		panic("wasmtime: cannot find the store pointer in wasmtime-go's Store (unsupported wasmtime-go version)")
	}
	C.wasmflow_set_epoch_cb(v.UnsafePointer(), f.p)
}

//go:build !cgo

package main_test

// engines are the engines a build without cgo offers.
var engines = []string{"wazero"}

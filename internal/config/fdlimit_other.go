//go:build !unix

package config

func fdLimit() int { return 0 }

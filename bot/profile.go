package main

import (
	"flag"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
)

// profiling are the flags that record where a command's time goes: for
// finding a slow spot under load, not for everyday use.
type profiling struct {
	cpu, mem, trace *string
}

func addProfileFlags(fs *flag.FlagSet) *profiling {
	return &profiling{
		cpu:   fs.String("cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file"),
		mem:   fs.String("memprofile", "", "write a heap profile (pprof) to this file at SIGUSR1 and at exit"),
		trace: fs.String("trace", "", "write an execution trace (go tool trace) of the whole run to this file"),
	}
}

// start begins what the flags ask for; the returned stop writes and closes
// it all.
func (p *profiling) start() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if *p.cpu != "" {
		f, err := os.Create(*p.cpu)
		if err != nil {
			return stop, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, err
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if *p.trace != "" {
		f, err := os.Create(*p.trace)
		if err != nil {
			return stop, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return stop, err
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	if *p.mem != "" {
		path := *p.mem
		write := func() {
			if f, err := os.Create(path); err == nil {
				runtime.GC() // the profile is as of the last collection: make it now
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			for range usr1 {
				write()
			}
		}()
		stops = append(stops, func() { signal.Stop(usr1); write() })
	}
	return stop, nil
}

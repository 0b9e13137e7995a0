// Overcast's vCenter/ESXi simulator launcher for the hv_esx plugin tests.
//
// A thin wrapper around govmomi's simulator package (Debian's
// golang-github-vmware-govmomi-dev, 0.24.2 on bookworm): it builds the inventory
// model, serves it on a loopback address and prints the service URL on stdout
// once it accepts connections; a test fixture waits for that line. SIGTERM or
// SIGINT stops it and removes the simulator's datastore directories.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "listen address (use port 0 to let the OS choose)")
	esx := flag.Bool("esx", false, "simulate a standalone ESXi host instead of vCenter")
	hosts := flag.Int("host", 3, "hosts per cluster (vCenter mode)")
	standalone := flag.Int("standalone-host", 1, "standalone hosts (vCenter mode)")
	vms := flag.Int("vm", 2, "VMs per resource pool")
	user := flag.String("username", "user", "login user")
	pass := flag.String("password", "pass", "login password")
	useTLS := flag.Bool("tls", true, "serve https with a self-signed certificate")
	flag.Parse()

	model := simulator.VPX()
	if *esx {
		model = simulator.ESX()
	} else {
		model.ClusterHost = *hosts
		model.Host = *standalone
	}
	model.Machine = *vms
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}
	s := model.Service.NewServer()
	fmt.Println(s.URL.String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Close()
	model.Remove()
}

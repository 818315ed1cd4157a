// Command etcd is the upstream etcd server (go.etcd.io/etcd/server/v3), built from the
// Go module proxy as the storage of the reference control plane. See ../README.md.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}

package emulator

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	bolt "go.etcd.io/bbolt"
)

// objectStore is the object storage behind the S3 face: gofakes3 with its
// memory backend, or its bbolt backend in a data directory. The emulator
// authenticates and authorizes every request before it reaches gofakes3.
type objectStore struct {
	backend gofakes3.Backend
	handler http.Handler
	db      *bolt.DB // nil for the memory backend
}

func openObjectStore(dataDir string, clk *clock) (*objectStore, error) {
	o := &objectStore{}
	if dataDir == "" {
		o.backend = s3mem.New(s3mem.WithTimeSource(clk))
	} else {
		// A second emulator on the same directory would block forever on
		// bbolt's file lock; fail instead.
		db, err := bolt.Open(filepath.Join(dataDir, "objects.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("emulator: opening object store in %s: %w", dataDir, err)
		}
		o.db = db
		o.backend = s3bolt.New(db, s3bolt.WithTimeSource(clk))
	}
	fake := gofakes3.New(o.backend,
		gofakes3.WithTimeSource(clk),
		gofakes3.WithTimeSkewLimit(0), // the emulator checks skew itself, against the wall clock
		gofakes3.WithLogger(gofakes3.DiscardLog()),
		gofakes3.WithIntegrityCheck(true),
	)
	o.handler = fake.Server()
	return o, nil
}

func (o *objectStore) createBucket(name string) error {
	exists, err := o.backend.BucketExists(name)
	if err != nil || exists {
		return err
	}
	return o.backend.CreateBucket(name)
}

func (o *objectStore) close() error {
	if o == nil || o.db == nil {
		return nil
	}
	return o.db.Close()
}

package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// stateFile keeps the emulator's own state (buckets' owners and Regions,
// Access Grants) in a data directory, next to gofakes3's object store. It
// is rewritten whole on every change, through a temporary file and a
// rename, so that a crash leaves either the old or the new state.
type stateFile struct {
	mu   sync.Mutex
	path string
}

func stateFilePath(dir string) string { return filepath.Join(dir, "state.json") }

// persisted is the JSON document of a state file.
type persisted struct {
	Version int             `json:"version"`
	Buckets []bucketInfo    `json:"buckets"`
	Grants  json.RawMessage `json:"access_grants"`
}

func (f *stateFile) load(buckets *bucketRegistry, grants *grantsState) error {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("emulator: reading state: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("emulator: state file %s is corrupt: %w", f.path, err)
	}
	if p.Version != 1 {
		return fmt.Errorf("emulator: state file %s has version %d; this emulator reads version 1", f.path, p.Version)
	}
	for _, b := range p.Buckets {
		buckets.add(b)
	}
	if len(p.Grants) > 0 {
		if err := grants.unmarshal(p.Grants); err != nil {
			return fmt.Errorf("emulator: state file %s: %w", f.path, err)
		}
	}
	return nil
}

func (f *stateFile) save(buckets *bucketRegistry, grants *grantsState) error {
	// The snapshot is taken under the lock too: two saves that snapshot
	// in one order and write in the other would leave the older state on
	// disk, which a crash then makes the truth.
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := grants.marshal()
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(persisted{Version: 1, Buckets: buckets.list(), Grants: g}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".state-*.json")
	if err != nil {
		return fmt.Errorf("emulator: saving state: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator: saving state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator: saving state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("emulator: saving state: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("emulator: saving state: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(f.path)); err == nil {
		dir.Sync() //nolint:errcheck // best effort: make the rename durable
		dir.Close()
	}
	return nil
}

// saveState persists the state when the server has a data directory.
func (s *Server) saveState() error {
	if s.state == nil {
		return nil
	}
	return s.state.save(s.buckets, s.grants)
}

package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair, or skips the test where the
// system has none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	return m, s
}

// TestProgressBarOnTerminal runs cp with standard output and error on a
// terminal: the bar shows. (TestCopyLargeInParts checks that nothing is
// written when they are not terminals.)
func TestProgressBarOnTerminal(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	master, slave := openPTY(t)
	defer master.Close()

	data := make([]byte, 20<<20) // above the multipart threshold
	rand.Read(data)
	local := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s3agBin, "cp", local, "s3://data-bucket/work/big.bin")
	cmd.Env = w.env(appKey, appSecret)
	cmd.Stdout, cmd.Stderr = slave, slave
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&out, master) // ends with EIO once the slave side is closed
		close(done)
	}()
	err := cmd.Run()
	slave.Close()
	<-done
	if err != nil {
		t.Fatalf("cp on a terminal: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"upload big.bin", "100%", "20/20 MiB"} {
		if !strings.Contains(text, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, text)
		}
	}
	if n := len(w.requests("UploadPart")); n != 3 {
		t.Errorf("%d UploadPart calls, want 3", n)
	}
}

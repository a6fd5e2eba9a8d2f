// Package vectors finds the published test vectors (WeChat Pay, mini-program
// and Alipay examples) for the tests of every package.
//
// The copy of record is ../shared/vectors beside the repository (CI checks it
// out there). The repository keeps an identical copy in testdata/vectors so
// that `go test ./...` also works from a clone alone; TestCopyMatchesShared
// keeps the two equal. UNICLOUD_VECTORS overrides both.
package vectors

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Dir is the folder holding vectors.json and keys/.
func Dir() (string, error) {
	if d := os.Getenv("UNICLOUD_VECTORS"); d != "" {
		return d, nil
	}
	if d, ok := SharedDir(); ok {
		return d, nil
	}
	if root, ok := repoRoot(); ok {
		d := filepath.Join(root, "testdata", "vectors")
		if exists(filepath.Join(d, "vectors.json")) {
			return d, nil
		}
	}
	return "", errors.New("published vectors not found: want shared/vectors beside the repository, testdata/vectors in it, or UNICLOUD_VECTORS")
}

// SharedDir is ../shared/vectors beside the repository, when it is there.
func SharedDir() (string, bool) {
	root, ok := repoRoot()
	if !ok {
		return "", false
	}
	d := filepath.Join(filepath.Dir(root), "shared", "vectors")
	return d, exists(filepath.Join(d, "vectors.json"))
}

// MustDir is Dir, failing the test when there are no vectors.
func MustDir(tb testing.TB) string {
	tb.Helper()
	d, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// Read returns a file of the vectors (a path relative to the folder, such
// as "vectors.json" or "keys/app-public-key.pem").
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(MustDir(tb), name))
	if err != nil {
		tb.Fatalf("published vectors: %v", err)
	}
	return b
}

// repoRoot is the folder of go.mod above the working directory.
func repoRoot() (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for d := wd; ; d = filepath.Dir(d) {
		if exists(filepath.Join(d, "go.mod")) {
			return d, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

package vectors

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The repository's copy must be the published one, file for file.
func TestCopyMatchesShared(t *testing.T) {
	shared, ok := SharedDir()
	if !ok {
		t.Skip("no shared/vectors beside the repository to compare with")
	}
	root, _ := repoRoot()
	local := filepath.Join(root, "testdata", "vectors")
	n := 0
	err := filepath.WalkDir(shared, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(shared, p)
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(local, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/vectors/%s differs from shared/vectors/%s: copy it again", rel, rel)
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walking shared/vectors: %v (%d files)", err, n)
	}
}

package snapshot

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MarshalText writes the ID in hex.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads a hex ID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("invalid ID: want 64 hex digits")
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// NodeType is the kind of a file system entry.
type NodeType string

const (
	TypeFile    NodeType = "file"
	TypeDir     NodeType = "dir"
	TypeSymlink NodeType = "symlink"
	TypeDevice  NodeType = "dev"     // block device
	TypeChar    NodeType = "chardev" // character device
	TypeFIFO    NodeType = "fifo"
)

// Node is one entry of a directory as recorded in a snapshot.
type Node struct {
	Name  string   `json:"-"` // any bytes but "/" and NUL; see nodeJSON
	Type  NodeType `json:"type"`
	Mode  uint32   `json:"mode"` // permission bits plus setuid (04000), setgid (02000), sticky (01000)
	UID   uint32   `json:"uid"`
	GID   uint32   `json:"gid"`
	User  string   `json:"user,omitempty"`
	Group string   `json:"group,omitempty"`
	MTime int64    `json:"mtime"` // nanoseconds since the Unix epoch
	Size  uint64   `json:"size,omitempty"`
	// Inode, Device and Links identify hard links: regular files with
	// Links > 1 and the same (Device, Inode) are restored as one file.
	Inode  uint64 `json:"inode,omitempty"`
	Device uint64 `json:"device,omitempty"`
	Links  uint64 `json:"links,omitempty"`
	Rdev   uint64 `json:"rdev,omitempty"`
	Target string `json:"-"` // symlink target, any bytes
	// Content lists the data blobs of a regular file, in order.
	Content []ID `json:"content,omitempty"`
	// Subtree is a directory's tree blob.
	Subtree *ID `json:"subtree,omitempty"`
}

// nodeJSON keeps names and link targets byte-exact: valid UTF-8 goes in
// "name"/"target" as a JSON string, anything else base64 in
// "name_raw"/"target_raw".
type nodeJSON struct {
	Name      string `json:"name,omitempty"`
	NameRaw   []byte `json:"name_raw,omitempty"`
	Target    string `json:"target,omitempty"`
	TargetRaw []byte `json:"target_raw,omitempty"`
	Node
}

// Tree is the listing of one directory, sorted by name.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

func (t *Tree) MarshalJSON() ([]byte, error) {
	ns := make([]nodeJSON, len(t.Nodes))
	for i, n := range t.Nodes {
		ns[i].Node = n
		if utf8.ValidString(n.Name) {
			ns[i].Name = n.Name
		} else {
			ns[i].NameRaw = []byte(n.Name)
		}
		if utf8.ValidString(n.Target) {
			ns[i].Target = n.Target
		} else {
			ns[i].TargetRaw = []byte(n.Target)
		}
	}
	return json.Marshal(struct {
		Nodes []nodeJSON `json:"nodes"`
	}{ns})
}

func (t *Tree) UnmarshalJSON(b []byte) error {
	var v struct {
		Nodes []nodeJSON `json:"nodes"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t.Nodes = make([]Node, len(v.Nodes))
	for i, n := range v.Nodes {
		t.Nodes[i] = n.Node
		t.Nodes[i].Name = n.Name
		if n.NameRaw != nil {
			t.Nodes[i].Name = string(n.NameRaw)
		}
		t.Nodes[i].Target = n.Target
		if n.TargetRaw != nil {
			t.Nodes[i].Target = string(n.TargetRaw)
		}
		if err := checkName(t.Nodes[i].Name); err != nil {
			return err
		}
	}
	return nil
}

// checkName refuses names that would escape the restore directory.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 4096 {
		return fmt.Errorf("tree: invalid file name %q", name)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return fmt.Errorf("tree: invalid file name %q", name)
		}
	}
	return nil
}

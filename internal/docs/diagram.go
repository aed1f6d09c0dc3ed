package docs

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"tend/internal/spec"
)

// The diagram is a Mermaid flowchart, which GitHub and GitLab draw where
// the page is shown. It keeps to the simple subset both render: a
// subgraph per provider and location holding its hosts, plain nodes for
// the Internet, outside networks and stores, and one edge per pair of
// nodes and kind of flow, its label listing every port, so that twenty
// hosts stay readable (an edge per rule would draw dozens of lines).

// Edge styles, one per kind of flow.
const (
	flowTraffic = "-->"  // who may connect: site requests, firewall allowances, forwards
	flowTunnel  = "==>"  // a tunnel, from its clients to its server
	flowData    = "-.->" // backups and replicas to their stores
)

type node struct {
	id, label string
	shape     string // "host", "internet", "net", "store"
}

type edge struct {
	from, to, style string
	labels          []string
}

type graph struct {
	nodes map[string]*node
	edges map[[3]string]*edge
}

func (g *graph) add(n *node) string {
	if g.nodes[n.id] == nil {
		g.nodes[n.id] = n
	}
	return n.id
}

func (g *graph) link(from, to, style, label string) {
	if from == to {
		return
	}
	k := [3]string{from, to, style}
	e := g.edges[k]
	if e == nil {
		e = &edge{from: from, to: to, style: style}
		g.edges[k] = e
	}
	if !slices.Contains(e.labels, label) {
		e.labels = append(e.labels, label)
	}
}

// nodeID makes a Mermaid node id from a kind and a name: letters, digits
// and '_' only, so that no name can be read as syntax (end, graph...).
func nodeID(prefix, name string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			fmt.Fprintf(&b, "_%x_", c)
		}
	}
	return b.String()
}

func hostID(name string) string { return nodeID("h_", name) }

const internetID = "internet"

func (m *model) flows() *graph {
	g := &graph{nodes: map[string]*node{}, edges: map[[3]string]*edge{}}
	for _, h := range m.hosts {
		g.add(&node{id: hostID(h.Name), label: hostLabel(h, m.env.Host(h.Name).Roles), shape: "host"})
	}
	// source returns the node a firewall source or allowlist entry comes
	// from: a host of the environment, the Internet, or a network.
	source := func(s spec.Source) string {
		if s.Any {
			return g.add(&node{id: internetID, label: "Internet", shape: "internet"})
		}
		if h := m.sourceHost(s); h != "" {
			return hostID(h)
		}
		return g.add(&node{id: nodeID("n_", s.String()), label: s.String(), shape: "net"})
	}
	sources := func(from []spec.Source) []string {
		if len(from) == 0 {
			return []string{source(spec.Source{Any: true})}
		}
		var out []string
		for _, s := range from {
			out = append(out, source(s))
		}
		return out
	}
	for _, h := range m.hosts {
		me := hostID(h.Name)
		for _, r := range h.Resources {
			if r.State == spec.StateAbsent {
				continue
			}
			switch s := r.Spec.(type) {
			case *spec.Site:
				var allow []spec.Source
				for _, a := range s.Allow {
					if src, err := spec.ParseSource(a); err == nil {
						allow = append(allow, src)
					}
				}
				ports := strconv.Itoa(s.HTTPPort)
				if s.HasTLS() {
					ports += "," + strconv.Itoa(s.HTTPSPort)
				}
				for _, from := range sources(allow) {
					g.link(from, me, flowTraffic, "site "+r.Name+" tcp "+ports)
				}
				ups := slices.Clone(s.Upstreams)
				for _, l := range s.Locations {
					ups = append(ups, l.Upstreams...)
				}
				for _, u := range ups {
					addrs := s.Resolved[u]
					if len(addrs) == 0 {
						addrs = []string{u}
					}
					for _, a := range addrs {
						to, port := m.hostOfPort(a)
						if to == "" {
							if loopback(a) {
								continue // the host's own service
							}
							g.add(&node{id: nodeID("n_", a), label: a, shape: "net"})
							g.link(me, nodeID("n_", a), flowTraffic, "proxy "+r.Name)
							continue
						}
						g.link(me, hostID(to), flowTraffic, "proxy "+r.Name+" :"+port)
					}
				}
			case *spec.Firewall:
				// The openings tend adds are drawn from what needs them
				// (sites, tunnels), or are its own SSH, on every host.
				added := generated(h)
				for _, e := range s.Allow {
					rule, err := spec.ParseRule(e)
					if err != nil || added[rule.Comment] {
						continue
					}
					for _, from := range sources(rule.From) {
						g.link(from, me, flowTraffic, rule.Proto+" "+portsText(rule.Ports))
					}
				}
				for _, e := range s.Forward {
					fw, err := spec.ParseForward(e)
					if err != nil {
						continue
					}
					label := fmt.Sprintf("%s %d", fw.Proto, fw.Port)
					for _, from := range sources(fw.From) {
						g.link(from, me, flowTraffic, label)
					}
					g.link(me, source(fw.To), flowTraffic, fmt.Sprintf("forward %s %d to %d", fw.Proto, fw.Port, fw.ToPort))
				}
				for _, n := range s.NAT {
					g.link(source(mustSource(n)), me, flowTraffic, "NAT out")
				}
			case *spec.Tunnel:
				if s.Side == spec.TunnelServer {
					for _, p := range s.Peers {
						g.link(hostID(p), me, flowTunnel, "tunnel "+r.Name+" :"+strconv.Itoa(s.Port))
					}
				}
			case *spec.PostgresBackup:
				g.link(me, g.add(storeNode(s.Store)), flowData, "pitr "+r.Name)
			case *spec.FileBackup:
				g.link(me, g.add(storeNode(s.Store)), flowData, "snapshots "+r.Name)
			case *spec.Replica:
				if s.FromDir != "" {
					src := s.FromDir[strings.Index(s.FromDir, "@")+1:]
					src = src[:strings.LastIndex(src, ":")]
					if h := m.hostOf(src); h != "" {
						g.link(hostID(h), me, flowData, "replica "+r.Name)
					} else {
						g.link(g.add(&node{id: nodeID("n_", src), label: src, shape: "net"}), me, flowData, "replica "+r.Name)
					}
					continue
				}
				g.link(g.add(storeNode(s.From)), me, flowData, "replica "+r.Name)
				g.link(me, g.add(storeNode(s.To)), flowData, "replica "+r.Name)
			}
		}
	}
	return g
}

// generated returns the comments of the firewall entries tend adds to the
// host's ruleset itself: its own SSH port and the openings of the host's
// other resources (spec.Opener).
func generated(h *spec.Host) map[string]bool {
	out := map[string]bool{"tend ssh": true}
	for _, r := range h.Resources {
		if o, ok := r.Spec.(spec.Opener); ok && r.State != spec.StateAbsent {
			for _, op := range o.Openings(h) {
				out[op.What] = true
			}
		}
	}
	return out
}

func mustSource(s string) spec.Source {
	src, _ := spec.ParseSource(s)
	return src
}

func loopback(ap string) bool {
	a, err := netip.ParseAddrPort(ap)
	return err == nil && a.Addr().IsLoopback() || strings.HasPrefix(ap, "localhost:")
}

func storeNode(u string) *node {
	n := storeName(u)
	return &node{id: nodeID("s_", n), label: n, shape: "store"}
}

// hostLabel is a host's name, address and the roles it declares (not
// those they require: the host table lists every one).
func hostLabel(h *spec.Host, declared []string) string {
	parts := []string{h.Name, h.Address}
	if len(declared) > 0 {
		parts = append(parts, strings.Join(declared, ", "))
	}
	return strings.Join(parts, "\n")
}

// group is a host's subgraph: its provider and location.
func group(h *spec.Host) string {
	switch {
	case h.Provider != "" && h.Location != "":
		return h.Provider + " · " + h.Location
	case h.Provider != "":
		return h.Provider
	case h.Location != "":
		return h.Location
	}
	return ""
}

// diagram writes the Mermaid block.
func (m *model) diagram(b *bytes.Buffer) {
	g := m.flows()
	b.WriteString("\n## Diagram\n\nHosts grouped by provider and location; solid arrows: who may connect (labelled with the ports); thick: tunnels; dotted: backups and replicas to their stores.\n\n")
	b.WriteString("```mermaid\n")
	b.WriteString(m.layout(g).mermaid())
	b.WriteString("```\n")
}

// drawing is the diagram's layout, shared by the Mermaid block and the
// SVG: two levels of subgraphs (the location, and within it the hosts
// that declare the same roles, when two or more do beside other hosts:
// the app servers of a location), the other nodes, and the edges once
// collapsed onto subgraphs.
type drawing struct {
	nodes  map[string]*node
	groups []*box   // the locations, sorted by name
	loose  []string // hosts with neither provider nor location
	others []string // the Internet, networks, stores: sorted
	parent map[string]string
	edges  []*edge // sorted
}

// box is a subgraph: its hosts (node ids) and inner subgraphs, in order.
type box struct {
	id, label string
	items     []string // host node ids, or ids of inner boxes
	inner     map[string]*box
}

func (m *model) layout(g *graph) *drawing {
	d := &drawing{nodes: g.nodes, parent: map[string]string{}}
	groups := map[string][]*spec.Host{}
	for _, h := range m.hosts {
		groups[group(h)] = append(groups[group(h)], h)
	}
	size := map[string]int{} // what each subgraph holds directly
	for i, name := range sortedKeys(groups) {
		hosts := groups[name]
		if name == "" {
			for _, h := range hosts {
				d.loose = append(d.loose, hostID(h.Name))
			}
			continue
		}
		bx := &box{id: "g" + strconv.Itoa(i), label: name, inner: map[string]*box{}}
		var keys []string
		clusters := map[string][]*spec.Host{}
		for _, h := range hosts {
			k := strings.Join(m.env.Host(h.Name).Roles, ", ")
			if clusters[k] == nil {
				keys = append(keys, k)
			}
			clusters[k] = append(clusters[k], h)
		}
		for j, k := range keys {
			c := clusters[k]
			if len(c) < 2 || len(c) == len(hosts) {
				for _, h := range c {
					bx.items = append(bx.items, hostID(h.Name))
					d.parent[hostID(h.Name)] = bx.id
				}
				continue
			}
			label := k
			if label == "" {
				label = "no roles"
			}
			in := &box{id: bx.id + "_" + strconv.Itoa(j), label: label}
			for _, h := range c {
				in.items = append(in.items, hostID(h.Name))
				d.parent[hostID(h.Name)] = in.id
			}
			bx.items = append(bx.items, in.id)
			bx.inner[in.id] = in
			d.parent[in.id] = bx.id
			size[in.id] = len(c)
		}
		size[bx.id] = len(bx.items)
		d.groups = append(d.groups, bx)
	}
	for _, id := range sortedKeys(g.nodes) {
		if g.nodes[id].shape != "host" {
			d.others = append(d.others, id)
		}
	}
	var es []*edge
	for _, e := range g.edges {
		labels := slices.Clone(e.labels)
		slices.Sort(labels)
		es = append(es, &edge{from: e.from, to: e.to, style: e.style, labels: labels})
	}
	// Inner subgraphs first, so that a location whose every cluster is
	// reached collapses in turn.
	for _, toSide := range []bool{true, false} {
		es = collapse(es, d.parent, size, toSide)
		es = collapse(es, d.parent, size, toSide)
	}
	d.edges = es
	return d
}

func (d *drawing) mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, id := range d.loose {
		fmt.Fprintf(&b, "  %s\n", shape(d.nodes[id]))
	}
	for _, bx := range d.groups {
		fmt.Fprintf(&b, "  subgraph %s[%s]\n", bx.id, quote(bx.label))
		for _, id := range bx.items {
			in := bx.inner[id]
			if in == nil {
				fmt.Fprintf(&b, "    %s\n", shape(d.nodes[id]))
				continue
			}
			fmt.Fprintf(&b, "    subgraph %s[%s]\n", in.id, quote(in.label))
			for _, h := range in.items {
				fmt.Fprintf(&b, "      %s\n", shape(d.nodes[h]))
			}
			b.WriteString("    end\n")
		}
		b.WriteString("  end\n")
	}
	for _, id := range d.others {
		fmt.Fprintf(&b, "  %s\n", shape(d.nodes[id]))
	}
	for _, e := range d.edges {
		fmt.Fprintf(&b, "  %s %s|%s| %s\n", e.from, e.style, quote(strings.Join(e.labels, "\n")), e.to)
	}
	return b.String()
}

// collapse draws the edges that reach every host of a subgraph (with
// toSide; else that leave every host of it) from the same node, in the
// same style and with the same labels, as one edge to (from) the
// subgraph: a port open on every host to the monitoring hosts is one
// line per location, not one per host. It returns the edges sorted.
func collapse(es []*edge, parent map[string]string, size map[string]int, toSide bool) []*edge {
	type key struct{ other, style, labels, group string }
	count := map[key]int{}
	keyOf := func(e *edge) (key, bool) {
		end, other := e.from, e.to
		if toSide {
			end, other = e.to, e.from
		}
		gid := parent[end]
		if gid == "" || size[gid] < 2 {
			return key{}, false
		}
		return key{other, e.style, strings.Join(e.labels, "\n"), gid}, true
	}
	for _, e := range es {
		if k, ok := keyOf(e); ok {
			count[k]++
		}
	}
	var out []*edge
	done := map[key]bool{}
	for _, e := range es {
		k, ok := keyOf(e)
		if !ok || count[k] < size[k.group] {
			out = append(out, e)
			continue
		}
		if done[k] {
			continue
		}
		done[k] = true
		c := *e
		if toSide {
			c.to = k.group
		} else {
			c.from = k.group
		}
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *edge) int {
		return strings.Compare(a.from+" "+a.to+" "+a.style, b.from+" "+b.to+" "+b.style)
	})
	return out
}

func shape(n *node) string {
	q := quote(n.label)
	switch n.shape {
	case "internet":
		return n.id + "((" + q + "))"
	case "store":
		return n.id + "[(" + q + ")]"
	case "net":
		return n.id + "([" + q + "])"
	}
	return n.id + "[" + q + "]"
}

// quote makes a Mermaid label: in double quotes, with what Mermaid would
// read as syntax or HTML written as entity codes, and lines joined by
// <br/>.
func quote(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "#", "#35;", "`", "#96;")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, r.Replace(oneLine(l)))
	}
	return `"` + strings.Join(lines, "<br/>") + `"`
}

package access

import (
	"fmt"
	"net"
	"os/user"
	"strconv"

	"github.com/tugdev/tug/internal/endpoint"
)

// SocketPeer is the identity of whoever is at the other end of c, a
// connection to the API's unix socket: the local admin (the socket is
// mode 0600 in a private directory, so only the user running tug, and
// root, can connect), named by the peer's uid as the kernel reports it
// (SO_PEERCRED), not by anything the client says.
func SocketPeer(c net.Conn) Identity {
	id := Identity{Actor: "local", Role: endpoint.Admin, Via: ViaSocket}
	if uid, ok := peerUID(c); ok {
		id.Actor = uidName(uid)
	}
	return id
}

// uidName is "ann (uid 1000)", or "uid 1000" for a uid with no name.
func uidName(uid uint32) string {
	s := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(s); err == nil && u.Username != "" {
		return fmt.Sprintf("%s (uid %s)", u.Username, s)
	}
	return "uid " + s
}

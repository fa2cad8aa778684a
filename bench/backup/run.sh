#!/usr/bin/env bash
# Backup benchmark: tug against the plain pipe it replaces, in the same
# run, on a generated PostgreSQL 15 database of SIZE_MB (default 1100 MB).
#
#   (a) first backup:   `tug backup run db` against
#                       `pg_dump -Fc | restic backup --stdin` into its own
#                       repository (target: tug within 10%)
#   (b) second backup:  the database unchanged (target: under 10% of (a),
#                       restic deduplicates)
#   (c) restore:        `tug backup verify db` (restore into a scratch
#                       cluster and check): its measured RTO
#
# Usage: bench/backup/run.sh [SIZE_MB]
# Env:   TUG=path/to/tug (default: scripts/build.sh, the static binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mb=${1:-1100}
for p in restic initdb; do
	command -v "$p" >/dev/null || { echo "bench: $p is missing (apt-get install restic postgresql-15)" >&2; exit 1; }
done
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
tug=${TUG:-}
work=$(mktemp -d /tmp/tug-bench-backup-XXXXXX)
chmod 755 "$work"
if [ -z "$tug" ]; then
	scripts/build.sh "$work/tug" >/dev/null
	tug=$work/tug
fi
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
	"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/pg" "$work/sock" && chown -R postgres "$work/pg" "$work/sock" 2>/dev/null || true
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -U bench --auth=trust --no-sync >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -o "-p $port -k $work/sock -c listen_addresses=127.0.0.1 -c fsync=off" -w start >/dev/null
export PGHOST=$work/sock PGPORT=$port PGUSER=bench
psql -qX -d postgres -c 'create database shop'
rows=$((size_mb * 1024 * 1024 / 120))
echo "generating ${size_mb} MB ($rows rows)..."
psql -qX -d shop -c "create table orders (id bigint primary key, customer text, item text, note text, at timestamptz)"
psql -qX -d shop -c "insert into orders select g, md5(g::text), md5((g*7)::text), repeat(md5((g*13)::text), 1), now() - g * interval '1 second' from generate_series(1, $rows) g"
psql -qX -d shop -Atc "select pg_size_pretty(pg_database_size('shop'))"

mkdir -p "$work/proj"
cat > "$work/proj/tug.yaml" <<YAML
version: 1
project: bench
backups:
  db:
    postgres: {url_secret: DB_URL}
    schedule: "@daily"
    to: {path: $work/repo-tug}
    password_secret: PW
    verify: {checks: [{sql: "select count(*) from orders", min: $rows}]}
YAML
export DB_URL="postgres://bench@127.0.0.1:$port/shop?sslmode=disable" PW=bench-password RESTIC_PASSWORD=bench-password
restic -r "$work/repo-tug" init >/dev/null
restic -r "$work/repo-pipe" init >/dev/null

# measure FN: "WALL CPU" seconds of FN and every process it waited for
# (user + system: what the work cost, whatever else loads the machine).
measure() {
	/usr/bin/time -f "%e %U %S" -o "$work/time" bash -c "$1" >/dev/null 2>&1
	read -r e u s < "$work/time"
	echo "$e $(echo "$u + $s" | bc)"
}
pipe() { pg_dump -Fc -d shop | restic -r "$work/repo-pipe" backup --stdin --stdin-filename db.dump --json >/dev/null; }
tugrun() { "$tug" -f "$work/proj/tug.yaml" --json backup run db > "$work/last.json"; }
export -f pipe tugrun
export work tug

read -r t_pipe1 c_pipe1 <<<"$(measure pipe)"
read -r t_tug1 c_tug1 <<<"$(measure tugrun)"
added1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["added"])' "$work/last.json")
read -r t_pipe2 c_pipe2 <<<"$(measure pipe)"
read -r t_tug2 c_tug2 <<<"$(measure tugrun)"
added2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["added"])' "$work/last.json")
verify=$("$tug" -f "$work/proj/tug.yaml" --json backup verify db || true)
rto=$(echo "$verify" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rto_seconds"])')
ok=$(echo "$verify" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall times stretch with it; CPU times do not)"
printf '%-34s %8s %8s\n' "" "tug" "pipe"
printf '%-34s %7.1fs %7.1fs   tug/pipe = %.2f (target <= 1.10)\n' "first backup, wall" "$t_tug1" "$t_pipe1" "$(echo "$t_tug1 / $t_pipe1" | bc -l)"
printf '%-34s %7.1fs %7.1fs   tug/pipe = %.2f\n' "first backup, CPU" "$c_tug1" "$c_pipe1" "$(echo "$c_tug1 / $c_pipe1" | bc -l)"
printf '%-34s %7.1fs %7.1fs   second/first (tug) = %.2f (target < 0.10)\n' "second backup unchanged, wall" "$t_tug2" "$t_pipe2" "$(echo "$t_tug2 / $t_tug1" | bc -l)"
printf '%-34s %7.1fs %7.1fs   second/first (tug) = %.2f\n' "second backup unchanged, CPU" "$c_tug2" "$c_pipe2" "$(echo "$c_tug2 / $c_tug1" | bc -l)"
printf '%-34s %8d %8d   bytes stored new, second/first = %.4f (target < 0.10)\n' "stored new (first, second)" "$added1" "$added2" "$(echo "$added2 / $added1" | bc -l)"
printf '%-34s %7.1fs   restore test ok=%s\n' "restore (measured RTO)" "$rto" "$ok"
# restic 0.14's "added" counts bytes before its compression: the disk says
# what the repositories really hold.
printf '%-34s %7dM %7dM\n' "repository on disk (2 snapshots)" "$(du -sm "$work/repo-tug" | cut -f1)" "$(du -sm "$work/repo-pipe" | cut -f1)"

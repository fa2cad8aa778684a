package backup

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/testkit"
)

const password = "correct horse battery"

// TestPostgresPointInTime: with a real PostgreSQL 15 and restic, back
// up, change the data, restore the dump and restore to a moment between
// the changes, and find the data as it was each time.
func TestPostgresPointInTime(t *testing.T) {
	t.Parallel()
	url := production(t, "shop_pitr")
	dir := t.TempDir()
	c := loadConfig(t, dir, fmt.Sprintf(`version: 1
project: shop
backups:
  db:
    postgres: {url_secret: DB_URL, pitr: true, wal_dir: %s}
    schedule: "0 3 * * *"
    to: {path: ./repo}
    password_secret: PW
`, pgWALDir))
	m, err := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: secretsOf(map[string]string{"PW": password, "DB_URL": url})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sqlOn(t, m, url, "create table orders (id int primary key, item text); insert into orders values (1, 'tea'), (2, 'cake'), (3, 'jam')")
	res, err := m.Run(ctx, "db", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Base == "" || res.Snapshot == "" {
		t.Fatalf("run = %+v, want a dump and a base backup", res)
	}
	sqlOn(t, m, url, "insert into orders values (4, 'bread')")
	time.Sleep(100 * time.Millisecond)
	at := time.Now()
	time.Sleep(100 * time.Millisecond)
	sqlOn(t, m, url, "delete from orders where id = 1; insert into orders values (5, 'wine')")
	sqlOn(t, m, url, "select pg_switch_wal()")
	// The segment holding the changes reaches the WAL directory, then
	// the repository.
	testkit.Eventually(t, 30*time.Second, "the WAL segment is archived", func() bool {
		got, err := m.psql(ctx, pgCluster.conn("postgres"), "select coalesce(last_archived_wal, '') from pg_stat_archiver")
		return err == nil && got != "" && exists(filepath.Join(pgWALDir, got))
	})
	if _, err := m.ShipWAL(ctx, "db"); err != nil {
		t.Fatal(err)
	}

	// The dump: the data as it was at the backup.
	dumpURL := production(t, "shop_dump_restored")
	if _, err := m.Restore(ctx, "db", RestoreRequest{Into: dumpURL}); err != nil {
		t.Fatal(err)
	}
	if got := sqlOn(t, m, dumpURL, "select string_agg(id::text, ',' order by id) from orders"); got != "1,2,3" {
		t.Errorf("restored dump holds orders %s, want 1,2,3", got)
	}
	// The point in time: after order 4, before 1 was deleted and 5 added.
	pitrURL := production(t, "shop_pitr_restored")
	r, err := m.Restore(ctx, "db", RestoreRequest{Into: pitrURL, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if got := sqlOn(t, m, pitrURL, "select string_agg(id::text, ',' order by id) from orders"); got != "1,2,3,4" {
		t.Errorf("restored at %s: orders %s, want 1,2,3,4", at.Format(time.RFC3339Nano), got)
	}
	if r.Snapshot != res.Base[:8] {
		t.Errorf("restored from base %s, want %s", r.Snapshot, res.Base)
	}
	// The live database is as the changes left it.
	if got := sqlOn(t, m, url, "select string_agg(id::text, ',' order by id) from orders"); got != "2,3,4,5" {
		t.Errorf("live orders %s, want 2,3,4,5", got)
	}
	// The live database is refused as a target, even named, without --force.
	if _, err := m.Restore(ctx, "db", RestoreRequest{Into: url}); !errors.Is(err, ErrTarget) {
		t.Errorf("restore into the live database: %v, want ErrTarget", err)
	}
	if _, err := m.Restore(ctx, "db", RestoreRequest{Into: dumpURL}); !errors.Is(err, ErrTarget) {
		t.Errorf("restore into a non-empty database: %v, want ErrTarget", err)
	}
	if _, err := m.Restore(ctx, "db", RestoreRequest{}); !errors.Is(err, ErrTarget) {
		t.Errorf("restore with no target: %v, want ErrTarget", err)
	}
}

// TestRestoreTestPassesAndFails: a restore test restores into a scratch
// PostgreSQL, runs pg_amcheck and the checks, and measures RTO and RPO;
// a check that fails makes the test fail, and RestoreTestFailed fires
// from the metrics it leaves.
func TestRestoreTestPassesAndFails(t *testing.T) {
	t.Parallel()
	url := production(t, "shop_verify")
	dir := t.TempDir()
	yaml := `version: 1
backups:
  db:
    postgres: {url_secret: DB_URL}
    schedule: "@daily"
    to: {path: ./repo}
    password_secret: PW
    rto: 10m
    verify: {checks: [{sql: "select count(*) from orders", min: %d}]}
`
	c := loadConfig(t, dir, fmt.Sprintf(yaml, 2))
	m, err := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: secretsOf(map[string]string{"PW": password, "DB_URL": url})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sqlOn(t, m, url, "create table orders (id int primary key); insert into orders select generate_series(1, 10)")
	if _, err := m.Run(ctx, "db", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Verify(ctx, "db", VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Checks) != 2 || res.RTOSeconds <= 0 || res.RPOSeconds <= 0 || !res.RTOMet || !res.RPOMet || res.Size == 0 {
		t.Fatalf("passing restore test = %+v", res)
	}
	if res.Checks[1].Got != "10" {
		t.Errorf("count check got %q, want 10", res.Checks[1].Got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tug", Dir, "scratch", "*.json")); len(left) != 0 {
		t.Errorf("scratch places left: %v", left)
	}

	m.SetConfig(loadConfig(t, dir, fmt.Sprintf(yaml, 1000)))
	res, err = m.Verify(ctx, "db", VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Checks[1].OK {
		t.Fatalf("failing restore test = %+v, want a failed check", res)
	}
	if got := testutil.ToFloat64(gauge(t, m, "tug_restore_test_success")); got != 0 {
		t.Errorf("tug_restore_test_success = %v, want 0", got)
	}
	if !firing(t, m, "RestoreTestFailed") {
		t.Error("RestoreTestFailed does not fire")
	}
}

// gauge picks one family of the collector as a collector of its own.
func gauge(t *testing.T, m *Manager, name string) prometheus.Collector {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
			g.Set(f.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// firing feeds the collector's metrics to the alert engine with tug.yaml's
// default packs and says whether the named alert fires.
func firing(t *testing.T, m *Manager, name string) bool {
	t.Helper()
	return len(firingFor(t, m)[name]) > 0
}

// firingFor feeds the collector's metrics to the alert engine with
// tug.yaml's default packs, evaluates now and once more past the longest
// `for:` of the pack, and returns the firing alerts' backups by alert
// name, with their severities as "backup/severity".
func firingFor(t *testing.T, m *Manager) map[string][]string {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	app := db.Appender(context.Background())
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			kv := []string{"__name__", f.GetName(), "job", "tug", "instance", "tug"}
			for _, l := range mt.GetLabel() {
				kv = append(kv, l.GetName(), l.GetValue())
			}
			if _, err := app.Append(0, labels.FromStrings(kv...), now.UnixMilli(), mt.GetGauge().GetValue()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	at := now
	e, err := alert.New(context.Background(), alert.Options{
		Config: m.Config(), Queryable: db, Appendable: db,
		QueryEngine: promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute}),
		Registerer:  prometheus.NewRegistry(), Now: func() time.Time { return at }, State: alert.NewMemoryState(),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Evaluate(context.Background())
	at = now.Add(61 * time.Second)
	e.Evaluate(context.Background())
	out := map[string][]string{}
	for _, a := range e.Alerts() {
		if a.State == "firing" {
			out[a.Name] = append(out[a.Name], a.Labels["backup"]+"/"+a.Severity)
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// TestBackupAlerts: the default alerts fire from the history the
// collector reads: a backup whose last success is older than 1.5 × its
// interval (or that never succeeded since the server watched it), whose
// last run failed, whose restorable data is older than its RPO, whose
// restore test took longer than its RTO; a healthy backup fires none.
func TestBackupAlerts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	c := loadConfig(t, dir, `version: 1
backups:
  db: {postgres: {url_secret: DB_URL}, schedule: "@hourly", to: {path: ./repo}, password_secret: PW, rpo: 1h, rto: 1m}
  files: {path: ./data, schedule: "@hourly", to: {path: ./repo}, password_secret: PW, rpo: 1h, rto: 1m}
  state: {tug: true, schedule: "@hourly", to: {path: ./repo}, password_secret: PW}
`)
	now := time.Now()
	// The server has watched the backups for 3 hours.
	m, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: noSecrets, Now: func() time.Time { return now.Add(-3 * time.Hour) }})
	for _, r := range []Record{
		{Kind: RecordBackup, Backup: "db", Started: now.Add(-3 * time.Hour), Duration: 10, OK: true, SnapshotTime: now.Add(-3 * time.Hour), Size: 100},
		{Kind: RecordBackup, Backup: "db", Started: now.Add(-5 * time.Minute), Duration: 1, Error: "pg_dump failed"},
		{Kind: RecordVerify, Backup: "db", Started: now.Add(-2 * time.Hour), Duration: 130, OK: true, RTOSeconds: 120, RPOSeconds: 60},
		{Kind: RecordBackup, Backup: "files", Started: now.Add(-10 * time.Minute), Duration: 1, OK: true, SnapshotTime: now.Add(-10 * time.Minute), Size: 1},
		{Kind: RecordVerify, Backup: "files", Started: now.Add(-9 * time.Minute), Duration: 1, OK: true, RTOSeconds: 1, RPOSeconds: 60},
	} {
		if err := m.appendRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	// A drill that failed is recorded like a restore test.
	if err := m.RecordDrill(context.Background(), Record{Started: now.Add(-time.Hour), Duration: 30, Error: "shop (staging): 0 of 1 instances answer their health check"}); err != nil {
		t.Fatal(err)
	}
	got := firingFor(t, m)
	for name, want := range map[string][]string{
		"BackupMissing":     {"db/P1", "state/P1"},
		"BackupFailed":      {"db/P2"},
		"RPOBreached":       {"db/P1"},
		"RTOBreached":       {"db/P2"},
		"RestoreTestFailed": nil,
		"DRDrillFailed":     {"/P2"},
	} {
		if !slices.Equal(got[name], want) {
			t.Errorf("%s fires for %v, want %v", name, got[name], want)
		}
	}
}

// TestFailedDumpLeavesNoSnapshot: a pg_dump that dies half-way leaves no
// snapshot, the earlier ones intact, no restic running and the
// repository unlocked: the next run works.
func TestFailedDumpLeavesNoSnapshot(t *testing.T) {
	t.Parallel()
	url := production(t, "shop_halfway")
	dir := t.TempDir()
	c := loadConfig(t, dir, `version: 1
backups:
  db: {postgres: {url_secret: DB_URL}, schedule: "@daily", to: {path: ./repo}, password_secret: PW}
`)
	secrets := secretsOf(map[string]string{"PW": password, "DB_URL": url})
	state := filepath.Join(dir, ".tug")
	good, _ := New(c, Options{StateDir: state, Secrets: secrets})
	ctx := context.Background()
	sqlOn(t, good, url, "create table t (x int); insert into t values (1)")
	if _, err := good.Run(ctx, "db", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pg_dump that writes 4 MiB, then fails.
	bin := t.TempDir()
	script := "#!/bin/sh\nhead -c 4194304 /dev/zero\necho 'pg_dump: error: connection lost' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bad, _ := New(c, Options{StateDir: state, Secrets: secrets, PGBin: bin})
	_, err := bad.Run(ctx, "db", RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection lost") || !strings.Contains(err.Error(), "no snapshot was written") {
		t.Fatalf("half-way failure: %v", err)
	}
	snaps, err := good.Snapshots(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots after a failed run, want the 1 good one", len(snaps))
	}
	hist, _ := good.History("db")
	if last := hist[len(hist)-1]; last.OK || last.Snapshot != "" {
		t.Errorf("the failed run is recorded as %+v", last)
	}
	if _, err := good.Run(ctx, "db", RunOptions{}); err != nil {
		t.Fatalf("the run after a failure: %v", err)
	}
}

// TestRetention: 40 daily snapshots keep exactly what keep: says.
func TestRetention(t *testing.T) {
	needRestic(t)
	t.Parallel()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "f"), []byte("x"), 0o644)
	c := loadConfig(t, dir, `version: 1
backups:
  files: {path: ./data, schedule: "@daily", to: {path: ./repo}, password_secret: PW, keep: {daily: 7, weekly: 4, monthly: 2}}
`)
	m, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: secretsOf(map[string]string{"PW": password})})
	ctx := context.Background()
	r, err := m.repoFor(ctx, c, c.Backups["files"])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.open(ctx, true); err != nil {
		t.Fatal(err)
	}
	day := func(i int) time.Time { return time.Date(2025, 1, 1, 12, 0, 0, 0, time.Local).AddDate(0, 0, i) }
	// 39 days straight into the repository, eight at a time; the 40th
	// through tug, which applies the policy.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, 40)
	for i := range 39 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := r.backupDir(ctx, filepath.Join(dir, "data"), day(i), tags("files", kindFiles)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res, err := m.Run(ctx, "files", RunOptions{At: day(39)})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := r.snapshots(ctx, tags("files", kindFiles)...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range snaps {
		got = append(got, s.Time.Local().Format("01-02"))
	}
	slices.Sort(got)
	// Daily: Feb 3..9; weekly (ISO weeks end on Sunday): Feb 9, 2, Jan
	// 26, 19; monthly: Feb 9, Jan 31.
	want := []string{"01-19", "01-26", "01-31", "02-02", "02-03", "02-04", "02-05", "02-06", "02-07", "02-08", "02-09"}
	if !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if res.Forgotten != 40-len(want) {
		t.Errorf("forgotten = %d, want %d", res.Forgotten, 40-len(want))
	}
}

// TestS3 backs up to and restores from an S3 bucket (gofakes3 on
// loopback), with the keys only in restic's environment.
func TestS3(t *testing.T) {
	needRestic(t)
	t.Parallel()
	backend := s3mem.New()
	faker := gofakes3.New(backend)
	srv := httptest.NewServer(faker.Server())
	defer srv.Close()
	if err := backend.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "uploads", "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "uploads", "a", "cat.jpg"), []byte("meow"), 0o644)
	c := loadConfig(t, dir, fmt.Sprintf(`version: 1
backups:
  uploads:
    path: ./uploads
    schedule: "@hourly"
    to: {s3: {endpoint: %q, bucket: backups, prefix: shop, access_key_secret: KEY, secret_key_secret: SECRET}}
    password_secret: PW
    verify: {checks: [{file: a/cat.jpg, sha256: 404cdd7bc109c432f8cc2443b45bcfe95980f5107215c645236e577929ac3e52}]}
`, srv.URL))
	m, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: secretsOf(map[string]string{"PW": password, "KEY": "AKIDTEST", "SECRET": "s3cr3t-key-value"})})
	ctx := context.Background()
	first, err := m.Run(ctx, "uploads", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Run(ctx, "uploads", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Added >= first.Added {
		t.Errorf("an unchanged second backup added %d bytes, the first %d", second.Added, first.Added)
	}
	objs, err := backend.ListBucket("backups", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil || len(objs.Contents) == 0 {
		t.Fatalf("the bucket holds nothing: %v", err)
	}
	for _, o := range objs.Contents {
		if !strings.HasPrefix(o.Key, "shop/") {
			t.Errorf("object %s outside the prefix", o.Key)
		}
	}
	out := filepath.Join(t.TempDir(), "restored")
	if _, err := m.Restore(ctx, "uploads", RestoreRequest{To: out}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "a", "cat.jpg")); err != nil || string(b) != "meow" {
		t.Errorf("restored file: %q, %v", b, err)
	}
	res, err := m.Verify(ctx, "uploads", VerifyOptions{})
	if err != nil || !res.OK {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	snaps, err := m.Snapshots(ctx, "uploads")
	// keep: daily 7 by default keeps one snapshot a day: the second.
	if err != nil || len(snaps) != 1 || snaps[0].Size != 4 || second.Forgotten != 1 {
		t.Fatalf("snapshots = %+v, %v", snaps, err)
	}
}

// TestDirectoryRestoreTargets: a restore refuses no target, a non-empty
// one and the live directory without --force; the wrong password is an
// error and never a new repository.
func TestDirectoryRestoreTargets(t *testing.T) {
	needRestic(t)
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "f"), []byte("v1"), 0o644)
	yaml := `version: 1
backups:
  files: {path: ./data, schedule: "@daily", to: {path: ./repo}, password_secret: PW}
`
	c := loadConfig(t, dir, yaml)
	m, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: secretsOf(map[string]string{"PW": password})})
	ctx := context.Background()
	if _, err := m.Run(ctx, "files", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "f"), []byte("v2"), 0o644)
	if _, err := m.Restore(ctx, "files", RestoreRequest{}); !errors.Is(err, ErrTarget) {
		t.Errorf("no target: %v", err)
	}
	if _, err := m.Restore(ctx, "files", RestoreRequest{To: data}); !errors.Is(err, ErrTarget) {
		t.Errorf("the live directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "f")); string(b) != "v2" {
		t.Fatalf("the live directory was written: %q", b)
	}
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "keep"), nil, 0o644)
	if _, err := m.Restore(ctx, "files", RestoreRequest{To: full}); !errors.Is(err, ErrTarget) {
		t.Errorf("a non-empty directory: %v", err)
	}
	if _, err := m.Restore(ctx, "files", RestoreRequest{To: data, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "f")); string(b) != "v1" {
		t.Errorf("forced restore: %q, want v1", b)
	}

	config, _ := os.ReadFile(filepath.Join(dir, "repo", "config"))
	wrong, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: secretsOf(map[string]string{"PW": "not the password"})})
	if _, err := wrong.Run(ctx, "files", RunOptions{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "repo", "config")); string(after) != string(config) {
		t.Error("the repository was initialised again")
	}
	if snaps, err := m.Snapshots(ctx, "files"); err != nil || len(snaps) != 1 {
		t.Errorf("snapshots after a wrong password: %d, %v", len(snaps), err)
	}

	// Prune frees the data only forgotten snapshots held: a snapshot of
	// 512 KiB of noise, forgotten by the next run of the same day.
	noise := make([]byte, 512<<10)
	rand.Read(noise)
	os.WriteFile(filepath.Join(data, "f"), noise, 0o644)
	if _, err := m.Run(ctx, "files", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "f"), []byte("v3"), 0o644)
	if res, err := m.Run(ctx, "files", RunOptions{}); err != nil || res.Forgotten != 1 {
		t.Fatalf("the run after the noise: %+v, %v", res, err)
	}
	before := dirSize(filepath.Join(dir, "repo", "data"))
	pr, err := m.Prune(ctx, nil)
	if err != nil || len(pr) != 1 || !slices.Equal(pr[0].Backups, []string{"files"}) {
		t.Fatalf("prune: %+v, %v", pr, err)
	}
	if after := dirSize(filepath.Join(dir, "repo", "data")); after > before-256<<10 {
		t.Errorf("prune freed %d bytes of %d; the noise alone is 512 KiB", before-after, before)
	}
}

// TestSecretsNeverInArguments: restic, pg_dump and pg_restore get the
// repository password and the database password through a pipe and
// their environment; their command lines (what ps shows) hold neither,
// and neither do the history or the logs.
func TestSecretsNeverInArguments(t *testing.T) {
	t.Parallel()
	url := production(t, "shop_secrets")
	dir := t.TempDir()
	argsLog := filepath.Join(os.TempDir(), fmt.Sprintf("tug-argv-%d.log", os.Getpid()))
	t.Cleanup(func() { os.Remove(argsLog) })
	wrap, err := os.MkdirTemp("", "tug-wrap-") // the postgres user runs some of them
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(wrap) })
	os.Chmod(wrap, 0o755)
	real := func(p string) string { q, _ := exec.LookPath(p); return q }
	m0, _ := New(loadConfig(t, dir, "version: 1\n"), Options{StateDir: filepath.Join(dir, ".tug"), Secrets: noSecrets})
	for _, prog := range []string{"pg_dump", "pg_restore", "psql", "pg_isready", "initdb", "postgres", "pg_amcheck"} {
		p, err := m0.pgBin(prog)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(wrap, prog), []byte(fmt.Sprintf("#!/bin/sh\necho \"$0 $*\" >> %s\nexec %s \"$@\"\n", argsLog, p)), 0o755)
	}
	os.WriteFile(filepath.Join(wrap, "restic"), []byte(fmt.Sprintf("#!/bin/sh\necho \"$0 $*\" >> %s\nexec %s \"$@\"\n", argsLog, real("restic"))), 0o755)
	os.Chmod(argsLog, 0o666)
	os.WriteFile(argsLog, nil, 0o666)
	c := loadConfig(t, dir, `version: 1
backups:
  db: {postgres: {url_secret: DB_URL}, schedule: "@daily", to: {path: ./repo}, password_secret: PW}
`)
	log, logs := testkit.Logger()
	m, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Secrets: secretsOf(map[string]string{"PW": password, "DB_URL": url}),
		PGBin: wrap, Restic: filepath.Join(wrap, "restic"), Logger: log})
	ctx := context.Background()
	sqlOn(t, m, url, "create table t (x int)")
	if _, err := m.Run(ctx, "db", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := m.Verify(ctx, "db", VerifyOptions{}); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
	argv, _ := os.ReadFile(argsLog)
	hist, _ := os.ReadFile(m.historyFile("db"))
	dbPassword := pgCluster.password
	for what, text := range map[string]string{"argv": string(argv), "history": string(hist), "logs": logs.String()} {
		for _, s := range []string{password, dbPassword, url} {
			if strings.Contains(text, s) {
				t.Errorf("the %s hold a secret", what)
			}
		}
	}
	if !strings.Contains(string(argv), "pg_dump") || !strings.Contains(string(argv), "--password-file /dev/fd/3") {
		t.Errorf("the wrappers saw: %s", argv)
	}
}

// TestKilledDuringRestoreTest: a process killed while its restore test
// runs leaves no scratch PostgreSQL running and no lock held; the next
// start cleans its scratch place and the next test works.
func TestKilledDuringRestoreTest(t *testing.T) {
	t.Parallel()
	url := production(t, "shop_killed")
	dir := t.TempDir()
	c := loadConfig(t, dir, `version: 1
backups:
  db:
    postgres: {url_secret: DB_URL}
    schedule: "@daily"
    to: {path: ./repo}
    password_secret: PW
    verify: {checks: [{sql: "select pg_sleep(600)"}]}
`)
	state := filepath.Join(dir, ".tug")
	secrets := secretsOf(map[string]string{"PW": password, "DB_URL": url})
	m, _ := New(c, Options{StateDir: state, Secrets: secrets})
	ctx := context.Background()
	sqlOn(t, m, url, "create table t (x int)")
	if _, err := m.Run(ctx, "db", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "TUG_BACKUP_HELPER="+dir, "TUG_BACKUP_HELPER_URL="+url)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	testkit.Eventually(t, 60*time.Second, "the scratch PostgreSQL runs the check", func() bool {
		markers, _ := filepath.Glob(filepath.Join(state, Dir, "scratch", "*.json"))
		for _, mk := range markers {
			b, _ := os.ReadFile(mk)
			var sm scratchMarker
			if jsonUnmarshal(b, &sm) != nil {
				continue
			}
			pidb, err := os.ReadFile(filepath.Join(sm.Dir, "data", "postmaster.pid"))
			if err != nil {
				continue
			}
			fmt.Sscan(strings.SplitN(string(pidb), "\n", 2)[0], &pid)
			out, _ := m.psql(ctx, pgConn{env: []string{"PGHOST=" + filepath.Join(sm.Dir, "sock"), "PGUSER=tug", "PGDATABASE=postgres", "PGPORT=" + portOf(pidb)}},
				"select count(*) from pg_stat_activity where query like 'select pg_sleep%'")
			return out == "1"
		}
		return false
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	testkit.Eventually(t, 30*time.Second, "the scratch PostgreSQL dies with its parent", func() bool { return !kit.Alive(pid) })
	if l, err := kit.TryLockFile(filepath.Join(state, Dir, "locks", "db.lock"), true); err != nil {
		t.Fatalf("the backup's lock is still held: %v", err)
	} else {
		l.Unlock()
	}
	n, err := m.CleanScratch()
	if err != nil || n != 1 {
		t.Fatalf("CleanScratch = %d, %v; want 1", n, err)
	}
	m.SetConfig(loadConfig(t, dir, `version: 1
backups:
  db: {postgres: {url_secret: DB_URL}, schedule: "@daily", to: {path: ./repo}, password_secret: PW}
`))
	if res, err := m.Verify(ctx, "db", VerifyOptions{}); err != nil || !res.OK {
		t.Fatalf("the next restore test: %+v, %v", res, err)
	}
}

// TestKilledDuringBackup: while a process runs a backup, another run of
// the same backup is refused (ErrBusy), across processes; once that
// process is killed, neither its pg_dump nor its restic runs on, no lock
// is held, it left no snapshot, and the next run works.
func TestKilledDuringBackup(t *testing.T) {
	needRestic(t)
	t.Parallel()
	dir := t.TempDir()
	c := loadConfig(t, dir, `version: 1
backups:
  db: {postgres: {url_secret: DB_URL}, schedule: "@daily", to: {path: ./repo}, password_secret: PW, keep: {last: 10}}
`)
	// A pg_dump that writes a little, then, while the file hang exists,
	// hangs until it is killed.
	bin := t.TempDir()
	hang, pidFile := filepath.Join(bin, "hang"), filepath.Join(bin, "pg_dump.pid")
	script := fmt.Sprintf("#!/bin/sh\nhead -c 65536 /dev/zero\nif [ -f %s ]; then echo $$ > %s; exec sleep 600; fi\n", hang, pidFile)
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	url := "postgres://shop@127.0.0.1:1/shop"
	state := filepath.Join(dir, ".tug")
	m, _ := New(c, Options{StateDir: state, PGBin: bin, Secrets: secretsOf(map[string]string{"PW": password, "DB_URL": url})})
	ctx := context.Background()
	if _, err := m.Run(ctx, "db", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(hang, nil, 0o644)
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "TUG_BACKUP_HELPER="+dir, "TUG_BACKUP_HELPER_URL="+url, "TUG_BACKUP_HELPER_OP=run", "TUG_BACKUP_HELPER_PGBIN="+bin)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dumpPID int
	testkit.Eventually(t, 30*time.Second, "the helper's pg_dump runs", func() bool {
		b, err := os.ReadFile(pidFile)
		return err == nil && len(b) > 0 && func() bool { _, err := fmt.Sscan(string(b), &dumpPID); return err == nil }()
	})
	if _, err := m.Run(ctx, "db", RunOptions{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second run while one runs: %v, want ErrBusy", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	repo := filepath.Join(dir, "repo")
	testkit.Eventually(t, 30*time.Second, "pg_dump and restic die with their parent", func() bool {
		return !kit.Alive(dumpPID) && len(processesNaming(repo)) == 0
	})
	if l, err := kit.TryLockFile(filepath.Join(state, Dir, "locks", "db.lock"), true); err != nil {
		t.Fatalf("the backup's lock is still held: %v", err)
	} else {
		l.Unlock()
	}
	os.Remove(hang)
	if _, err := m.Run(ctx, "db", RunOptions{}); err != nil {
		t.Fatalf("the run after the kill: %v", err)
	}
	if snaps, err := m.Snapshots(ctx, "db"); err != nil || len(snaps) != 2 {
		t.Errorf("snapshots: %d, %v; want the 2 of the finished runs", len(snaps), err)
	}
}

// processesNaming lists the processes whose command line names s.
func processesNaming(s string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), s) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// portOf reads the port line of a postmaster.pid.
func portOf(pidFile []byte) string {
	lines := strings.Split(string(pidFile), "\n")
	if len(lines) > 3 {
		return strings.TrimSpace(lines[3])
	}
	return ""
}

// TestNoRestic: without restic, every operation says which package to
// install; the plan (which needs no repository) still works.
func TestNoRestic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := loadConfig(t, dir, `version: 1
backups:
  files: {path: ., schedule: "@daily", to: {path: ./repo}, password_secret: PW}
`)
	m, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), Restic: filepath.Join(dir, "no-restic"), Secrets: secretsOf(map[string]string{"PW": password})})
	ctx := context.Background()
	_, runErr := m.Run(ctx, "files", RunOptions{})
	_, verifyErr := m.Verify(ctx, "files", VerifyOptions{})
	_, lsErr := m.Snapshots(ctx, "files")
	_, restoreErr := m.Restore(ctx, "files", RestoreRequest{To: t.TempDir()})
	_, pruneErr := m.Prune(ctx, nil)
	for what, err := range map[string]error{"check": m.CheckRestic(), "run": runErr, "verify": verifyErr, "ls": lsErr, "restore": restoreErr, "prune": pruneErr} {
		if !errors.Is(err, ErrNoRestic) || !strings.Contains(err.Error(), "apt-get install restic") {
			t.Errorf("%s without restic: %v", what, err)
		}
	}
	if !strings.Contains(m.Plan(), "files") {
		t.Error("the plan does not name the backup")
	}
}

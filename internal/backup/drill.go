package backup

import (
	"context"
	"fmt"
)

// ScratchDatabase is a backup's newest dump restored into a scratch
// PostgreSQL (for a drill): URL reaches it over loopback TCP with its
// own password; Stop tears it down.
type ScratchDatabase struct {
	Backup   string
	Snapshot string
	URL      string
	Stop     func()
}

// RestoreScratch restores a postgres backup's newest dump into a new
// scratch cluster, in a database named as the live one, and leaves it
// running until Stop. Production is not touched.
func (m *Manager) RestoreScratch(ctx context.Context, name string) (*ScratchDatabase, error) {
	c, b, err := m.backup(name)
	if err != nil {
		return nil, err
	}
	if b.Postgres == nil {
		return nil, fmt.Errorf("%w: backup %s is not a database", ErrBadRequest, name)
	}
	live, err := m.pgSource(ctx, b)
	if err != nil {
		return nil, err
	}
	r, err := m.repoFor(ctx, c, b)
	if err != nil {
		return nil, err
	}
	// pick's listing says when there is no repository yet.
	snap, err := m.pick(ctx, r, name, kindDump, "")
	if err != nil {
		return nil, err
	}
	cl, err := m.startScratch(ctx, "drill of "+name)
	if err != nil {
		return nil, err
	}
	if _, err := m.restoreDump(ctx, r, snap.ID, name, cl.conn("postgres"), live.dbname, false, true); err != nil {
		cl.stop()
		return nil, err
	}
	return &ScratchDatabase{Backup: name, Snapshot: snap.ShortID, URL: cl.URL(live.dbname), Stop: cl.stop}, nil
}

// StartScratch starts an empty scratch PostgreSQL holding one empty
// database db, for purpose (recorded in its marker), and leaves it
// running until Stop: a place to rehearse a restore, or a throwaway
// database for a test.
func (m *Manager) StartScratch(ctx context.Context, purpose, db string) (*ScratchDatabase, error) {
	cl, err := m.startScratch(ctx, purpose)
	if err != nil {
		return nil, err
	}
	if _, err := m.psql(ctx, cl.conn("postgres"), "create database "+pgIdent(db)); err != nil {
		cl.stop()
		return nil, err
	}
	return &ScratchDatabase{URL: cl.URL(db), Stop: cl.stop}, nil
}

// startScratch starts a new, empty scratch cluster: a copy of the
// template data directory, with a password of its own.
func (m *Manager) startScratch(ctx context.Context, purpose string) (*cluster, error) {
	tpl, err := m.template(ctx)
	if err != nil {
		return nil, err
	}
	cl, err := m.newScratch(purpose)
	if err != nil {
		return nil, err
	}
	if err := cl.fromTemplate(ctx, tpl); err != nil {
		cl.stop()
		return nil, err
	}
	return cl, nil
}

// RecordDrill adds a drill's outcome to the drills' history (and so to
// the tug_dr_drill_* metrics), and hands it to the Recorder.
func (m *Manager) RecordDrill(ctx context.Context, r Record) error {
	r.Kind = RecordDrill
	m.record(ctx, Event{Action: "dr.drill"}, errorOf(r))
	return m.appendRecord(r)
}

func errorOf(r Record) error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%s", r.Error)
}

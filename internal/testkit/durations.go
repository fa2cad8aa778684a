package testkit

import "time"

// DurationCase is one row of DurationCases: a string a user may type and
// what it means, or (Err) the words of the error it gets.
type DurationCase struct {
	In   string
	Want time.Duration
	Err  string
}

// DurationCases is the one table of the duration syntax (kit.ParseDuration),
// shared by the tests of every place a user types a duration, so that a
// string means the same in tug.yaml, flags, silences and API parameters.
// Err is a part of the error's text, which is the same everywhere too.
var DurationCases = []DurationCase{
	{In: "0", Want: 0},
	{In: "30s", Want: 30 * time.Second},
	{In: "500ms", Want: 500 * time.Millisecond},
	{In: "1m30s", Want: 90 * time.Second},
	{In: "1h30m", Want: 90 * time.Minute},
	{In: "1.5h", Want: 90 * time.Minute},
	{In: "36h", Want: 36 * time.Hour},
	{In: "7d", Want: 7 * 24 * time.Hour},
	{In: "1.5d", Want: 36 * time.Hour},
	{In: "1d12h", Want: 36 * time.Hour},
	{In: "2w", Want: 14 * 24 * time.Hour},
	{In: "1y", Want: 365 * 24 * time.Hour},
	{In: "250us", Want: 250 * time.Microsecond},
	{In: " 10m ", Want: 10 * time.Minute},
	{In: "10", Err: `invalid duration "10": missing unit (e.g. 30s, 5m, 1h30m, 7d)`},
	{In: "1.5", Err: `invalid duration "1.5": missing unit`},
	{In: "-5m", Err: `invalid duration "-5m": must not be negative`},
	{In: "+5m", Err: `invalid duration "+5m": want a number and a unit`},
	{In: "5 m", Err: `invalid duration "5 m": want a number and a unit`},
	{In: ".5h", Err: `invalid duration ".5h": want a number and a unit`},
	{In: "1dd", Err: `invalid duration "1dd": want a number and a unit`},
	{In: "ten minutes", Err: `invalid duration "ten minutes": want a number and a unit`},
	{In: "1e3s", Err: `invalid duration "1e3s": want a number and a unit`},
	{In: "300y", Err: `invalid duration "300y": too long (at most 292y)`},
	{In: "99999999999999999999h", Err: `invalid duration "99999999999999999999h": too long`},
}

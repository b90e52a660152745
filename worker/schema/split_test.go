package schema

import (
	"slices"
	"strings"
	"testing"

	"github.com/actas-dev/actas/migrations"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"one statement without a semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"two statements", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolons inside quotes", `INSERT INTO t VALUES ('a;b', "c;d", ` + "`e;f`" + `, 'it''s;');SELECT 2`,
			[]string{`INSERT INTO t VALUES ('a;b', "c;d", ` + "`e;f`" + `, 'it''s;')`, "SELECT 2"}},
		{"comments dropped", "-- a; comment\nSELECT 1; /* b; */ SELECT 2 -- c\n;", []string{"SELECT 1", "SELECT 2"}},
		{"minus and slash are not comments", "SELECT 3-1; SELECT 4/2;", []string{"SELECT 3-1", "SELECT 4/2"}},
		{"trigger body kept whole",
			"CREATE TRIGGER x BEFORE DELETE ON t\nBEGIN\n  SELECT RAISE(ABORT, 'no');\n  SELECT 1;\nEND;\nSELECT 2;",
			[]string{"CREATE TRIGGER x BEFORE DELETE ON t\nBEGIN\n  SELECT RAISE(ABORT, 'no');\n  SELECT 1;\nEND", "SELECT 2"}},
		{"CASE inside a trigger",
			"CREATE TRIGGER x BEFORE INSERT ON t WHEN (CASE NEW.a WHEN 1 THEN 2 ELSE 3 END) = 2\nBEGIN\n  SELECT RAISE(ABORT, 'no');\nEND;\nSELECT 2;",
			[]string{"CREATE TRIGGER x BEFORE INSERT ON t WHEN (CASE NEW.a WHEN 1 THEN 2 ELSE 3 END) = 2\nBEGIN\n  SELECT RAISE(ABORT, 'no');\nEND", "SELECT 2"}},
		{"transaction dropped", "BEGIN TRANSACTION;\nCREATE TABLE t (a);\nCOMMIT;", []string{"CREATE TABLE t (a)"}},
		{"only comments", "-- nothing\n/* here */\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Split:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestSplitRefusesTwoTransactions(t *testing.T) {
	if _, err := Split("BEGIN TRANSACTION; SELECT 1; COMMIT; BEGIN TRANSACTION; SELECT 2; COMMIT;"); err == nil {
		t.Fatal("two transactions: want an error")
	}
}

// The shipped migrations split into whole statements: every trigger ends with END and
// no statement is cut inside one.
func TestSplitShippedMigrations(t *testing.T) {
	names, _ := migrationNames(t)
	for _, name := range names {
		text, err := migrations.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		stmts, err := Split(string(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(stmts) == 0 {
			t.Fatalf("%s: no statements", name)
		}
		for _, s := range stmts {
			if strings.HasPrefix(s, "CREATE TRIGGER") && !strings.HasSuffix(s, "END") {
				t.Errorf("%s: trigger cut short: %q", name, s)
			}
			if strings.HasPrefix(s, "--") || strings.HasPrefix(s, "END") {
				t.Errorf("%s: statement starts oddly: %q", name, s)
			}
		}
	}
}

package rehearse

import (
	"errors"
	"fmt"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// appendScorecard adds the scorecard to the transcript of each playbook
// run, as a note event titled "scorecard".
//
// Each transcript was closed by the RunPlaybook that opened it; the
// rehearsal opens each again through a handle of its own and closes it,
// so every handle is closed by whoever opened it. transcript.OpenAppend
// checks the hash chain before the note goes on it and continues the
// chain, so the scorecard never extends a transcript that changed since
// its run wrote it. The note keeps the transcript format as it is: readers
// and replay need no new event type.
func appendScorecard(paths []string, card *Scorecard) error {
	note := transcript.Event{Type: transcript.Note, Title: "scorecard", Text: card.Text()}
	for _, p := range paths {
		w, _, err := transcript.OpenAppend(p)
		if err != nil {
			return fmt.Errorf("append the scorecard to %s: %w", p, err)
		}
		_, werr := w.Write(note)
		if err := errors.Join(werr, w.Close()); err != nil {
			return fmt.Errorf("append the scorecard to %s: %w", p, err)
		}
	}
	return nil
}

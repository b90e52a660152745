package audit

// Queued is how many appends wait to be taken into a group.
func Queued(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

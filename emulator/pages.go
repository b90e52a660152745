package main

// Server-rendered HTML: the demo admin tool (lists users, the links carry
// their UUIDs), the demo target applications, the audit log and message
// pages. html/template escapes everything.

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages holds one template set per page, each combining the layout with the
// page's "content" block.
var pages = func() map[string]*template.Template {
	layout := template.Must(template.ParseFS(templateFS, "templates/layout.html"))
	m := map[string]*template.Template{}
	for _, name := range []string{"admin", "user", "app", "audit", "message", "login"} {
		m[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	return m
}()

// page is what the layout needs.
type page struct {
	Title string
	Nav   []navLink
}

type navLink struct {
	Name string
	URL  string
}

func (s *server) page(title string) page {
	p := page{Title: title}
	for _, c := range s.seed.Clients {
		p.Nav = append(p.Nav, navLink{Name: c.Name, URL: "/apps/" + url.PathEscape(c.ClientID) + "/"})
	}
	return p
}

// defaultCSP allows no script and posts only to the emulator itself.
const defaultCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, status int, name string, data any) {
	s.renderCSP(w, status, name, defaultCSP, data)
}

// renderCSP is render with a page-specific Content-Security-Policy.
func (s *server) renderCSP(w http.ResponseWriter, status int, name, csp string, data any) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messagePage struct {
	page
	Message string
	IsError bool
}

func (s *server) renderMessage(w http.ResponseWriter, status int, title, message string) {
	s.render(w, status, "message", messagePage{page: s.page(title), Message: message, IsError: status >= 400})
}

type adminPage struct {
	page
	Realm    string
	Instance string
	Users    []User
}

func (s *server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "admin", adminPage{
		page: s.page("Users"), Realm: s.seed.Realm, Instance: s.seed.Instance, Users: s.seed.Users,
	})
}

type userPage struct {
	page
	Realm string
	User  User
}

func (s *server) handleAdminUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.seed.user(r.PathValue("uuid"))
	if !ok {
		s.renderMessage(w, http.StatusNotFound, "User not found", "There is no user with this UUID.")
		return
	}
	s.render(w, http.StatusOK, "user", userPage{page: s.page(u.Name), Realm: s.seed.Realm, User: u})
}

type appPage struct {
	page
	Client    Client
	Session   *session
	User      User
	LogoutURL string
}

// handleApp is the demo target application. It answers 200 with or without
// a session; without one it says "Not signed in".
func (s *server) handleApp(w http.ResponseWriter, r *http.Request) {
	c, ok := s.seed.client(r.PathValue("clientId"))
	if !ok {
		s.renderMessage(w, http.StatusNotFound, "Application not found", "There is no application with this client id.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	data := appPage{page: s.page(c.Name), Client: c}
	if sess, ok := s.currentSession(r); ok {
		data.Session = &sess
		data.User, _ = s.seed.user(sess.UserUUID)
		data.LogoutURL = s.realmURL("/protocol/openid-connect/logout") +
			"?post_logout_redirect_uri=" + url.QueryEscape(s.redirectURL(c))
	}
	s.render(w, http.StatusOK, "app", data)
}

type auditPage struct {
	page
	Events []AuditEvent
}

func (s *server) handleAuditHTML(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, http.StatusOK, "audit", auditPage{page: s.page("Audit log"), Events: s.audit.list()})
}

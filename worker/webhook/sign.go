package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// SecretPrefix starts a webhook secret as Standard Webhooks writes it.
const SecretPrefix = "whsec_"

// Sign returns the webhook-signature header value for one message:
// "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body)).
func Sign(secret []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignAnchor returns the signature a log line carries for an anchor (a verified chain
// head): "v1," + base64(HMAC-SHA256(secret, "anchor." + seq + "." + hash + "." + at)),
// at being the line's time field. Whoever holds the webhook secret can check that a
// head read from the log was published by the Worker.
func SignAnchor(secret []byte, seq int64, hash, at string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("anchor." + strconv.FormatInt(seq, 10) + "." + hash + "." + at))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

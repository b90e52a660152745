package bareid

import "context"

// Ready reports whether the Worker can act at Bare.ID: it holds a service-account
// token, from the cache while one is valid, else freshly from the token endpoint.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	_, err := c.TokenSource(ctx).Token()
	return err
}

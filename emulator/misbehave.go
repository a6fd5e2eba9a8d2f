package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"sync"
)

// badSignature says whether the answer to r is to be signed with the
// wrong key (Config.BadSignature).
func (s *Server) badSignature(r *http.Request) bool {
	return s.cfg.BadSignature != nil && s.cfg.BadSignature(r)
}

var (
	wrongKeyOnce sync.Once
	wrongKey     *rsa.PrivateKey
)

// wrongRSAKey is an RSA key no provider or test has, made once.
func wrongRSAKey() *rsa.PrivateKey {
	wrongKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		wrongKey = k
	})
	return wrongKey
}

// wrongV2Key signs WeChat Pay v2 answers under Config.BadSignature.
const wrongV2Key = "emulator-not-the-merchant-key-00"

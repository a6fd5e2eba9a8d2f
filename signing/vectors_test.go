package signing

import (
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	published "github.com/caddy-unicloud/unicloud/internal/vectors"
)

// The published vectors: shared/vectors beside the repository, or the
// repository's copy (internal/vectors finds them).

type vectorFile struct {
	WxpayV2Sign struct {
		Params         map[string]string `json:"params"`
		Key            string            `json:"key"`
		StringSignTemp string            `json:"string_sign_temp"`
		MD5            string            `json:"md5"`
		HMACSHA256     string            `json:"hmac_sha256"`
	} `json:"wxpay_v2_sign"`
	MiniProgramEncryptedData struct {
		AppID         string `json:"appId"`
		SessionKey    string `json:"sessionKey"`
		IV            string `json:"iv"`
		EncryptedData string `json:"encryptedData"`
		Plaintext     string `json:"plaintext"`
	} `json:"miniprogram_encrypted_data"`
	WxpayV2RefundReqInfo struct {
		Key       string `json:"key"`
		ReqInfo   string `json:"req_info"`
		Plaintext string `json:"plaintext"`
	} `json:"wxpay_v2_refund_req_info"`
	OAPush struct {
		Token                 string `json:"token"`
		Timestamp             string `json:"timestamp"`
		Nonce                 string `json:"nonce"`
		EncodingAESKey        string `json:"encodingAESKey"`
		AppID                 string `json:"appid"`
		Encrypt               string `json:"encrypt"`
		MsgSignature          string `json:"msg_signature"`
		SignatureTokenTSNonce string `json:"signature_token_ts_nonce"`
	} `json:"oa_push"`
	WxpayV3RequestSignatures struct {
		PrivateKeyFile string `json:"private_key_file"`
		Cases          []struct {
			Method    string `json:"method"`
			URL       string `json:"url"`
			Timestamp string `json:"timestamp"`
			Nonce     string `json:"nonce"`
			Body      string `json:"body"`
			Signature string `json:"signature"`
		} `json:"cases"`
		MiniProgramPaySign struct {
			Message   string `json:"message"`
			Signature string `json:"signature"`
		} `json:"mini_program_pay_sign"`
	} `json:"wxpay_v3_request_signatures"`
	WxpayV3ResponseVerification struct {
		PublicKeyFile string            `json:"public_key_file"`
		Headers       map[string]string `json:"headers"`
		Body          string            `json:"body"`
	} `json:"wxpay_v3_response_verification"`
	WxpayV3AEAD struct {
		Cases []struct {
			APIV3Key       string `json:"api_v3_key"`
			Nonce          string `json:"nonce"`
			AssociatedData string `json:"associated_data"`
			Plaintext      string `json:"plaintext"`
			Ciphertext     string `json:"ciphertext"`
			CiphertextFile string `json:"ciphertext_file"`
		} `json:"cases"`
	} `json:"wxpay_v3_aead_aes_256_gcm"`
	AlipayNotifications struct {
		Trade         alipayNotification `json:"trade_notification"`
		ServiceMarket alipayNotification `json:"servicemarket_notification"`
	} `json:"alipay_notifications"`
}

type alipayNotification struct {
	PublicKeyFile string            `json:"public_key_file"`
	Params        map[string]string `json:"params"`
	Expect        string            `json:"expect"`
}

var (
	vectorsOnce sync.Once
	vectorsDir  string
	vectorsErr  string
	vectors     vectorFile
)

// findVectors looks for shared/vectors in the working directory's ancestors
// (the package directory is <repo>/signing, the vectors <repo>/../shared).
func findVectors() (string, string) {
	d, err := published.Dir()
	if err != nil {
		return "", err.Error()
	}
	return d, ""
}

// loadVectors returns the parsed vectors.json, failing the test when the
// vectors are missing: they are the reference, never skipped.
func loadVectors(tb testing.TB) *vectorFile {
	tb.Helper()
	vectorsOnce.Do(func() {
		vectorsDir, vectorsErr = findVectors()
		if vectorsErr != "" {
			return
		}
		b, err := os.ReadFile(filepath.Join(vectorsDir, "vectors.json"))
		if err != nil {
			vectorsErr = err.Error()
			return
		}
		if err := json.Unmarshal(b, &vectors); err != nil {
			vectorsErr = "vectors.json: " + err.Error()
		}
	})
	if vectorsErr != "" {
		tb.Fatal(vectorsErr)
	}
	return &vectors
}

// vectorFileText reads a file of the vectors directory (keys/…, ciphertexts).
func vectorFileText(tb testing.TB, rel string) string {
	tb.Helper()
	loadVectors(tb)
	b, err := os.ReadFile(filepath.Join(vectorsDir, filepath.FromSlash(rel)))
	if err != nil {
		tb.Fatalf("vector file %s: %v", rel, err)
	}
	return string(b)
}

func vectorPublicKey(tb testing.TB, rel string) *rsa.PublicKey {
	tb.Helper()
	k, err := ParseRSAPublicKey(vectorFileText(tb, rel))
	if err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
	return k
}

func vectorPrivateKey(tb testing.TB, rel string) *rsa.PrivateKey {
	tb.Helper()
	k, err := ParseRSAPrivateKey(vectorFileText(tb, rel))
	if err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
	return k
}

func cloneParams(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// flipBase64 changes one character of a base64 string in the middle
// (keeping it valid base64).
func flipBase64(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

#include "agent/core/mesh_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace meshbpf {

HmacSha256Tag HmacSha256(absl::string_view key, const uint8_t* data, size_t size) {
  HmacSha256Tag tag{};
  unsigned len = 0;
  // OpenSSL wants a non-null key pointer even for an empty key.
  static constexpr uint8_t kNoKey = 0;
  const void* key_data = key.empty() ? &kNoKey : static_cast<const void*>(key.data());
  HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()), data, size, tag.data(), &len);
  return tag;
}

bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t size) {
  return CRYPTO_memcmp(a, b, size) == 0;
}

}  // namespace meshbpf

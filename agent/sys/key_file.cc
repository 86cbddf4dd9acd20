#include "agent/sys/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshbpf {

absl::StatusOr<X25519KeyPair> ReadPrivateKeyFile(const std::string& path) {
  const std::string what = absl::StrCat("link_aggregation.private_key_file ", path);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(what, ": ", std::strerror(errno)));
  struct stat st {};
  char buffer[128];
  ssize_t n = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = read(fd, buffer, sizeof(buffer));
  const int err = errno;
  close(fd);
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(what, ": not a regular file"));
  if (n < 0) return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
  // Whoever else can read it can impersonate this node.
  if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s: mode %04o, owner uid %u: must be owned by uid %u and not accessible to group or "
        "others (chmod 600)",
        what, st.st_mode & 07777, st.st_uid, geteuid()));
  }
  return KeyPairFromPrivateText(absl::string_view(buffer, static_cast<size_t>(n)), what);
}

}  // namespace meshbpf

#include "core/errors.h"

#include <cerrno>
#include <cmath>
#include <cstring>

namespace shmkit {

namespace {
struct ErrnoEntry {
  int value;
  const char* name;
};

#define SHMKIT_ERRNO(e) {e, #e},
const ErrnoEntry kErrnos[] = {
    SHMKIT_ERRNO(EPERM) SHMKIT_ERRNO(ENOENT) SHMKIT_ERRNO(ESRCH) SHMKIT_ERRNO(EINTR) SHMKIT_ERRNO(
        EIO) SHMKIT_ERRNO(ENXIO) SHMKIT_ERRNO(E2BIG) SHMKIT_ERRNO(EBADF) SHMKIT_ERRNO(EAGAIN)
        SHMKIT_ERRNO(ENOMEM) SHMKIT_ERRNO(EACCES) SHMKIT_ERRNO(EFAULT) SHMKIT_ERRNO(EBUSY)
            SHMKIT_ERRNO(EEXIST) SHMKIT_ERRNO(ENODEV) SHMKIT_ERRNO(ENOTDIR) SHMKIT_ERRNO(EISDIR)
                SHMKIT_ERRNO(EINVAL) SHMKIT_ERRNO(ENFILE) SHMKIT_ERRNO(EMFILE) SHMKIT_ERRNO(EFBIG)
                    SHMKIT_ERRNO(ENOSPC) SHMKIT_ERRNO(ESPIPE) SHMKIT_ERRNO(EROFS)
                        SHMKIT_ERRNO(EPIPE) SHMKIT_ERRNO(ERANGE) SHMKIT_ERRNO(EDEADLK)
                            SHMKIT_ERRNO(ENAMETOOLONG) SHMKIT_ERRNO(ENOSYS) SHMKIT_ERRNO(ENOMSG)
                                SHMKIT_ERRNO(EIDRM) SHMKIT_ERRNO(EOVERFLOW) SHMKIT_ERRNO(ENOTSUP)
                                    SHMKIT_ERRNO(ETIMEDOUT) SHMKIT_ERRNO(ECANCELED)
                                        SHMKIT_ERRNO(EOWNERDEAD) SHMKIT_ERRNO(ENOTRECOVERABLE)
                                            SHMKIT_ERRNO(EMSGSIZE) SHMKIT_ERRNO(ENOTEMPTY)
                                                SHMKIT_ERRNO(ELOOP) SHMKIT_ERRNO(EXDEV)};
#undef SHMKIT_ERRNO
}  // namespace

const char* ErrnoName(int err) {
  for (const auto& entry : kErrnos) {
    if (entry.value == err) return entry.name;
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);  // every errno glibc knows
  if (name != nullptr) return name;
#endif
  return "UNKNOWN";
}

namespace {
// Sets .code on any error object.
template <typename E>
E WithCode(E error, const char* code) {
  error.Set("code", code);
  return error;
}
}  // namespace

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& subject) {
  std::string message = std::string(ErrnoName(err)) + ": " + std::strerror(err) + ", " + syscall;
  if (!subject.empty()) message += " '" + subject + "'";
  Napi::Error error = WithCode(Napi::Error::New(env, message), ErrnoName(err));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", syscall);
  if (!subject.empty()) error.Set("objectName", subject);
  return error;
}

Napi::Error ClosedError(Napi::Env env, const std::string& what) {
  return CodedError(env, "ERR_SHMKIT_CLOSED", what + " is closed");
}

Napi::TypeError ArgTypeError(Napi::Env env, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_TYPE");
}

Napi::TypeError ArgValueError(Napi::Env env, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_VALUE");
}

Napi::RangeError ArgRangeError(Napi::Env env, const std::string& message) {
  return WithCode(Napi::RangeError::New(env, message), "ERR_OUT_OF_RANGE");
}

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::Error::New(env, message), code);
}

double RequireNumber(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) throw ArgTypeError(value.Env(), std::string(what) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (std::isnan(number)) throw ArgValueError(value.Env(), std::string(what) + " must not be NaN");
  return number;
}

std::string RequireString(const Napi::Value& value, const char* what) {
  if (!value.IsString()) throw ArgTypeError(value.Env(), std::string(what) + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

Napi::Function RequireFunction(const Napi::Value& value, const char* what) {
  if (!value.IsFunction()) {
    throw ArgTypeError(value.Env(), std::string(what) + " must be a function");
  }
  return value.As<Napi::Function>();
}

Napi::Uint8Array RequireBytes(const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw ArgTypeError(value.Env(), std::string(what) + " must be a Uint8Array");
  }
  auto bytes = value.As<Napi::Uint8Array>();
  // A detached buffer reads as empty: refuse it rather than send a bogus message.
  if (bytes.ArrayBuffer().IsDetached()) {
    throw ArgValueError(value.Env(), std::string(what) + " is detached");
  }
  return bytes;
}

}  // namespace shmkit

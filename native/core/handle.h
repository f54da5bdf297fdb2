// A JS handle (Napi::ObjectWrap) over a kernel object whose "core" pending
// waits share: close() drops only the handle's reference, and the core's
// destructor closes the object once the last wait lets go. SemaphoreHandle
// and PosixMqHandle are such handles.
#pragma once

#include <napi.h>

#include <memory>
#include <utility>

#include "core/errors.h"

namespace shmkit {

template <typename Derived, typename CoreT>
class CoreHandle : public Napi::ObjectWrap<Derived> {
 public:
  // `what` names the object in use-after-close errors ("semaphore is closed").
  CoreHandle(const Napi::CallbackInfo& info, const char* what)
      : Napi::ObjectWrap<Derived>(info), what_(what) {}

 protected:
  // The close() entry of the class's DefineClass table.
  static Napi::ClassPropertyDescriptor<Derived> CloseMethod() {
    return Napi::ObjectWrap<Derived>::InstanceMethod("close", &CoreHandle::Close);
  }

  // Holds `core` from now on and tells JS whether this open created the object.
  void Adopt(const Napi::CallbackInfo& info, std::shared_ptr<CoreT> core, bool created) {
    core_ = std::move(core);
    info.This().template As<Napi::Object>().Set("created", Napi::Boolean::New(info.Env(), created));
  }

  // The core, for one call or one wait; ERR_SHMKIT_CLOSED after close().
  std::shared_ptr<CoreT> Core(Napi::Env env) {
    if (!core_) throw ClosedError(env, what_);
    return core_;
  }

 private:
  Napi::Value Close(const Napi::CallbackInfo& info) {
    core_.reset();
    return info.Env().Undefined();
  }

  const char* what_;
  std::shared_ptr<CoreT> core_;
};

}  // namespace shmkit

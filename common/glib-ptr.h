// Ownership of GLib/GObject references in types, after WebKit's GRefPtr and
// GUniquePtr: one ref-counting pointer for every ref-counted type (taking a
// floating reference sinks it, adopting one is a programming error), unique
// owners with a per-type deleter, and scoped signal connections.
#pragma once

#include <glib-object.h>
#include <glib.h>

#include <functional>
#include <memory>
#include <utility>

namespace signalbin {

// ---------------------------------------------------------------------------
// Ref-counting traits. The primary template covers GObject and its subclasses;
// other ref-counted types specialise it (see SIGNALBIN_DEFINE_REF_TRAITS).
template <typename T>
struct RefTraits {
    static T* ref(T* p) { return static_cast<T*>(g_object_ref_sink(p)); }
    static void unref(T* p) { g_object_unref(p); }
    static bool is_floating(T* p) { return g_object_is_floating(p); }
};

#define SIGNALBIN_DEFINE_REF_TRAITS(Type, RefFn, UnrefFn)          \
    template <>                                                    \
    struct RefTraits<Type> {                                       \
        static Type* ref(Type* p) { return static_cast<Type*>(RefFn(p)); } \
        static void unref(Type* p) { UnrefFn(p); }                 \
        static bool is_floating(Type*) { return false; }           \
    };

SIGNALBIN_DEFINE_REF_TRAITS(GMainContext, g_main_context_ref, g_main_context_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GMainLoop, g_main_loop_ref, g_main_loop_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GSource, g_source_ref, g_source_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GBytes, g_bytes_ref, g_bytes_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GHashTable, g_hash_table_ref, g_hash_table_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GUri, g_uri_ref, g_uri_unref)

template <>
struct RefTraits<GVariant> {
    static GVariant* ref(GVariant* p) { return g_variant_ref_sink(p); }
    static void unref(GVariant* p) { g_variant_unref(p); }
    static bool is_floating(GVariant* p) { return g_variant_is_floating(p); }
};

// GRef<T>: shared ownership of one reference.
//   GRef<T>::adopt(p)  takes over a full reference the caller owns ("transfer
//                      full"); adopting a floating reference is a bug.
//   GRef<T>::ref(p)    takes a new reference ("transfer none"), sinking a
//                      floating one.
template <typename T>
class GRef {
public:
    GRef() = default;
    GRef(std::nullptr_t) {}
    GRef(const GRef& other) : ptr_(other.ptr_ ? RefTraits<T>::ref(other.ptr_) : nullptr) {}
    GRef(GRef&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
    ~GRef() { reset(); }

    GRef& operator=(GRef other) noexcept
    {
        std::swap(ptr_, other.ptr_);
        return *this;
    }

    static GRef adopt(T* p)
    {
        g_return_val_if_fail(!p || !RefTraits<T>::is_floating(p), ref(p));
        GRef r;
        r.ptr_ = p;
        return r;
    }

    static GRef ref(T* p)
    {
        GRef r;
        r.ptr_ = p ? RefTraits<T>::ref(p) : nullptr;
        return r;
    }

    void reset()
    {
        if (T* p = std::exchange(ptr_, nullptr))
            RefTraits<T>::unref(p);
    }

    // Gives up ownership: the caller now holds the reference.
    [[nodiscard]] T* release() { return std::exchange(ptr_, nullptr); }

    T* get() const { return ptr_; }
    T* operator->() const { return ptr_; }
    explicit operator bool() const { return ptr_ != nullptr; }
    bool operator==(const GRef& o) const { return ptr_ == o.ptr_; }
    bool operator!=(const GRef& o) const { return ptr_ != o.ptr_; }

private:
    T* ptr_ = nullptr;
};

template <typename T>
GRef<T> adopt_ref(T* p)
{
    return GRef<T>::adopt(p);
}

template <typename T>
GRef<T> take_ref(T* p)
{
    return GRef<T>::ref(p);
}

// ---------------------------------------------------------------------------
// Unique owners with a per-type deleter.
template <typename T>
struct GDeleter;

#define SIGNALBIN_DEFINE_DELETER(Type, FreeFn)       \
    template <>                                      \
    struct GDeleter<Type> {                          \
        void operator()(Type* p) const { FreeFn(p); } \
    };

SIGNALBIN_DEFINE_DELETER(GError, g_error_free)
SIGNALBIN_DEFINE_DELETER(char, g_free)
SIGNALBIN_DEFINE_DELETER(char*, g_strfreev)
SIGNALBIN_DEFINE_DELETER(GOptionContext, g_option_context_free)
SIGNALBIN_DEFINE_DELETER(GKeyFile, g_key_file_unref)

template <typename T>
using GUnique = std::unique_ptr<T, GDeleter<T>>;

using GCharPtr = GUnique<char>;
using GErrorPtr = GUnique<GError>;
using GStrvPtr = GUnique<char*>;

// Out-parameter adaptor for GError**: `fn(..., GErrorOut(err))`.
class GErrorOut {
public:
    explicit GErrorOut(GErrorPtr& target) : target_(target) {}
    ~GErrorOut() { target_.reset(raw_); }
    GErrorOut(const GErrorOut&) = delete;
    GErrorOut& operator=(const GErrorOut&) = delete;
    operator GError**() { return &raw_; }

private:
    GErrorPtr& target_;
    GError* raw_ = nullptr;
};

// ---------------------------------------------------------------------------
// A signal handler that disconnects when this object goes away. Holds only a
// weak reference to the instance, so it neither keeps the instance alive nor
// touches it after it is finalised.
class SignalConnection {
public:
    SignalConnection() = default;
    SignalConnection(gpointer instance, gulong handler_id) : handler_id_(handler_id)
    {
        g_weak_ref_init(&instance_, instance);
    }
    SignalConnection(SignalConnection&& o) noexcept { *this = std::move(o); }
    SignalConnection& operator=(SignalConnection&& o) noexcept
    {
        if (this != &o) {
            disconnect();
            gpointer p = g_weak_ref_get(&o.instance_);
            g_weak_ref_set(&instance_, p);
            if (p)
                g_object_unref(p);
            handler_id_ = std::exchange(o.handler_id_, 0);
            g_weak_ref_set(&o.instance_, nullptr);
        }
        return *this;
    }
    SignalConnection(const SignalConnection&) = delete;
    SignalConnection& operator=(const SignalConnection&) = delete;
    ~SignalConnection()
    {
        disconnect();
        g_weak_ref_clear(&instance_);
    }

    void disconnect()
    {
        if (handler_id_ == 0)
            return;
        if (gpointer p = g_weak_ref_get(&instance_)) {
            g_signal_handler_disconnect(p, handler_id_);
            g_object_unref(p);
        }
        handler_id_ = 0;
        g_weak_ref_set(&instance_, nullptr);
    }

    explicit operator bool() const { return handler_id_ != 0; }

private:
    GWeakRef instance_ {};
    gulong handler_id_ = 0;
};

// Connects a C callback and returns the scoped connection.
template <typename Callback>
SignalConnection connect_signal(gpointer instance, const char* signal, Callback cb, gpointer data)
{
    return SignalConnection(instance, g_signal_connect(instance, signal, G_CALLBACK(cb), data));
}

// ---------------------------------------------------------------------------
// A GSource attached to a context for as long as this object lives.
class ScopedSource {
public:
    ScopedSource() = default;
    explicit ScopedSource(GRef<GSource> source) : source_(std::move(source)) {}
    ScopedSource(ScopedSource&& o) noexcept = default;
    ScopedSource& operator=(ScopedSource&& o) noexcept
    {
        if (this != &o) {
            cancel();
            source_ = std::move(o.source_);
        }
        return *this;
    }
    ~ScopedSource() { cancel(); }

    void cancel()
    {
        if (source_) {
            g_source_destroy(source_.get());
            source_.reset();
        }
    }
    bool active() const { return source_ && !g_source_is_destroyed(source_.get()); }
    GSource* get() const { return source_.get(); }

    // Calls `fn` on `context` every `interval_ms` while it returns true.
    static ScopedSource timeout(GMainContext* context, guint interval_ms, std::function<bool()> fn)
    {
        return attach(context, adopt_ref(g_timeout_source_new(interval_ms)), std::move(fn));
    }
    // Calls `fn` once, soon, on `context`.
    static ScopedSource idle(GMainContext* context, std::function<void()> fn)
    {
        return attach(context, adopt_ref(g_idle_source_new()), [fn = std::move(fn)] {
            fn();
            return false;
        });
    }

private:
    static ScopedSource attach(GMainContext* context, GRef<GSource> source, std::function<bool()> fn)
    {
        auto* heap = new std::function<bool()>(std::move(fn));
        g_source_set_callback(
            source.get(),
            [](gpointer data) -> gboolean { return (*static_cast<std::function<bool()>*>(data))() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE; },
            heap, [](gpointer data) { delete static_cast<std::function<bool()>*>(data); });
        g_source_attach(source.get(), context);
        return ScopedSource(std::move(source));
    }

    GRef<GSource> source_;
};

// Makes `context` the thread-default context for the scope, so that async
// GIO/libsoup operations started inside dispatch their callbacks there.
class ThreadDefaultContext {
public:
    explicit ThreadDefaultContext(GMainContext* context) : context_(context)
    {
        g_main_context_push_thread_default(context_);
    }
    ~ThreadDefaultContext() { g_main_context_pop_thread_default(context_); }
    ThreadDefaultContext(const ThreadDefaultContext&) = delete;
    ThreadDefaultContext& operator=(const ThreadDefaultContext&) = delete;

private:
    GMainContext* context_;
};

} // namespace signalbin

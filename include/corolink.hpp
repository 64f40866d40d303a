/*
 * corolink.hpp - the C++ API of corolink: typed, RAII coroutines over the C
 * API of corolink.h. Header-only, C++17.
 *
 * This header is the C++ API and its manual; corolink.h is the C API and
 * documents what happens underneath (stacks, the pool, exceptions, traps,
 * threads, backtraces, tools). Everything here is in namespace
 * corolink_cpp (see "The namespace").
 *
 * ----------------------------------------------------------------------------
 * Overview
 * ----------------------------------------------------------------------------
 * A corolink_cpp::coroutine<Input, Yield, Return> runs a callable (its body)
 * on a stack of its own. The body is called as body(yielder, input) and may
 * suspend from any depth with yielder.suspend(value): the value comes out of
 * the resumer's resume() as a Yield, and the next resume()'s argument is
 * what suspend() returns. The body's return value comes out of the last
 * resume() as the Return, and the coroutine is then done:
 *
 *     corolink_cpp::coroutine<int, int, std::string> co(
 *         [](corolink_cpp::yielder<int, int> &y, int input) {
 *             for (int i = 0; i < 5; i++)
 *                 input = y.suspend(i);        // yield i, get the next input
 *             return std::string("done");      // finishes the coroutine
 *         });
 *     for (int counter = 100;; counter++) {
 *         auto r = co.resume(counter);
 *         if (r.is_return()) {                 // r.return_value() == "done"
 *             break;
 *         }
 *         std::printf("got %d\n", r.yield_value());
 *     }
 *
 * (examples/generator.cpp is the model crate's first example in full.)
 *
 * Input, Yield and Return are any object types (not references), move-only
 * ones included, or void: a void Input makes the body body(yielder) and
 * resume() take no argument, a void Yield makes suspend() take none, a void
 * Return makes the body return nothing.
 *
 * Values are never copied by the library and never allocated: they are
 * moved straight between the two stacks.
 *  - A type that is trivially copyable and fits in a pointer (int,
 *    pointers, small PODs: a "word" type below) travels in the C API's
 *    void * values, in registers, exactly as a C program passes them.
 *  - resume(Input) takes its argument by value in the resumer's frame and
 *    hands the body its address; the body move-constructs its copy from
 *    it (the body's input parameter, or what suspend() returns).
 *  - A yielded value is move- (or copy-) constructed by suspend() directly
 *    in the storage of the result that the resumer's resume() returns; a
 *    returned value is moved there from the body's return value.
 * So a move-only value costs moves, never a copy and never a heap
 * allocation: one move into resume()'s parameter, one into the body; one
 * into the result for a yielded or returned value.
 *
 * ----------------------------------------------------------------------------
 * Where the callable lives
 * ----------------------------------------------------------------------------
 * The body callable (a lambda and its captures) is kept on the coroutine's
 * own stack, in the frame of the coroutine's entry function; never on the
 * heap. corolink_create() puts the control block at the top of the stack
 * and starts the body right below it, so there is no room to place the
 * callable before the coroutine runs. Two cases:
 *
 *  (a) a callable that is trivially copyable and trivially destructible
 *      and fits in a pointer (a captureless lambda, a function pointer, a
 *      lambda capturing one pointer or reference) travels by value in the
 *      C API's `arg` and is rebuilt in the entry function's frame when the
 *      body starts: no extra cost at all;
 *  (b) any other callable: the constructor starts the coroutine at once
 *      with one resume that hands the entry function the callable's
 *      address; the entry function move-constructs (or copy-constructs, for
 *      an lvalue) the callable into its own frame and suspends back. The
 *      first resume() then continues from there. This costs one round
 *      trip at construction (a few nanoseconds) and nothing afterwards.
 *      started() is the C++ notion: true once resume() or resume_with()
 *      was called. Destroying such a coroutine before its first resume
 *      resumes it once with a "cancel" message: the entry function
 *      returns, destroying the callable on the way (no unwinder needed, so
 *      this also works in builds with COROLINK_UNWIND=OFF).
 *
 * A coroutine whose Yield is a word type but whose Return is not (a
 * coroutine<int, int, std::string>) is also started at construction as in
 * (b), whatever its callable: the entry function's frame then holds where
 * the final resume() wants the return value (one store per resume()).
 *
 * ----------------------------------------------------------------------------
 * Exceptions and errors
 * ----------------------------------------------------------------------------
 * Exceptions propagate exactly as in the C API (corolink.h, "Exceptions";
 * builds with COROLINK_UNWIND=ON, the default): an exception that leaves
 * the body finishes the coroutine and comes out of the resume() (or
 * resume_with()) that resumed it, the same object, catchable by type. One
 * thrown by the function of yielder::on_parent_stack() comes out of that
 * call inside the body, one thrown by the function of on_stack() out of
 * on_stack(), and one thrown by the function of resume_with() out of the
 * pending suspend() inside the body.
 *
 * Errors the C API reports (its negative COROLINK_E* codes) are thrown as
 * corolink_cpp::error, a std::system_error whose code() is the C code (e.g.
 * COROLINK_EDONE, -3, for resuming a finished coroutine) in the category
 * corolink_cpp::category(), whose message() is corolink_strerror()'s. Its
 * what() starts with the C++ function that failed. The constructors and
 * resume() also have non-throwing overloads that take a std::error_code &
 * (set to the error, or cleared on success). corolink_cpp::error is the only
 * exception type the library throws; the bodies' own exceptions pass
 * through untouched.
 *
 * Traps (corolink.h, "Traps"): a fault in the body, with
 * corolink_trap_install() called, finishes the coroutine and its resume()
 * returns a result whose is_trap() is true (nothing on the coroutine's
 * stack is unwound: the callable and the frames' objects are leaked, as in
 * the C API); coroutine::trap_info() says what happened. A generator
 * throws corolink_cpp::error with code COROLINK_TRAP instead, since a loop has
 * no result to look at.
 *
 * Destroying a suspended coroutine unwinds its stack as corolink_destroy()
 * does (corolink_force_unwind(): the destructors of every frame on its
 * stack run, and those of the callable's captures). In builds with
 * COROLINK_UNWIND=OFF that is impossible and the C API aborts with a
 * message: so does the destructor of a suspended coroutine. Call
 * force_reset() first there to leak what lives on its stack instead. A
 * coroutine that never started (case (b) above included) or that finished
 * is destroyed without any unwinding in every build.
 *
 * Without C++ exceptions (-fno-exceptions) the header still compiles: what
 * would throw corolink_cpp::error prints its message to stderr and aborts.
 *
 * ----------------------------------------------------------------------------
 * Cost
 * ----------------------------------------------------------------------------
 * resume() and suspend() are inline and compile to the inline switch of
 * corolink.h plus what the value protocol needs: nothing more for word
 * types (bench/instruction_limits.txt holds the C++ rows to the C rows'
 * instruction counts), and a two-word message in the resumer's frame for
 * the others. resume_with() takes the library's out-of-line switch, as
 * corolink_resume_with() does.
 *
 * ----------------------------------------------------------------------------
 * The namespace
 * ----------------------------------------------------------------------------
 * The namespace cannot be `corolink`: corolink.h declares `struct corolink`
 * and `typedef struct corolink corolink` in the global scope (the C type of
 * a coroutine, which C++ code uses too), and C++ forbids a namespace and a
 * class of the same name in one scope. Programs that want a shorter name
 * can write `namespace cl = corolink_cpp;`.
 *
 * Threads, nesting, backtraces and the tools behave as in the C API: a
 * C++ coroutine is a corolink coroutine (native() gives its corolink *).
 * C++ coroutines nest in C ones and the reverse.
 */
#ifndef COROLINK_HPP
#define COROLINK_HPP

#include "corolink.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "corolink.hpp needs C++17"
#endif

namespace corolink_cpp {

template <class Input = void, class Yield = void, class Return = void>
class coroutine;
template <class T> class generator;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

namespace detail {
class category_impl final : public std::error_category {
  public:
    const char *name() const noexcept override { return "corolink"; }
    std::string message(int code) const override {
        return corolink_strerror(code);
    }
};
} // namespace detail

// The error category of corolink's codes: value() is the C API's code
// (COROLINK_EINVAL, ..., negative; COROLINK_TRAP from a generator), and
// message() is corolink_strerror()'s text.
inline const std::error_category &category() noexcept {
    static const detail::category_impl instance;
    return instance;
}

// A std::error_code for one of the C API's codes.
inline std::error_code make_error_code(int code) noexcept {
    return std::error_code(code, category());
}

// What the C++ API throws for an error of the C API: code() is the C code in
// category(); what() is "<function>: <corolink_strerror(code)>".
class error : public std::system_error {
  public:
    error(int code, const char *what)
        : std::system_error(make_error_code(code), what) {}
};

namespace detail {

#if defined(__GNUC__)
#define COROLINK__CXX_COLD __attribute__((noinline, cold))
#else
#define COROLINK__CXX_COLD
#endif

// Throws corolink_cpp::error (or, without exceptions, prints it and aborts).
[[noreturn]] COROLINK__CXX_COLD inline void throw_error(int code,
                                                        const char *what) {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    throw error(code, what);
#else
    std::fprintf(stderr, "corolink: %s: %s\n", what, corolink_strerror(code));
    std::abort();
#endif
}

// Sets `ec` for a C API result: cleared for >= 0, the error otherwise.
inline void set_error(std::error_code &ec, int rc) noexcept {
    if (rc < 0)
        ec = make_error_code(rc);
    else
        ec.clear();
}

// void as a value: what a result holds for a void Yield or Return.
struct unit {};
template <class T>
using value_t = std::conditional_t<std::is_void_v<T>, unit, T>;

// "Word" types travel inside the C API's void * values.
template <class T, class = void> struct is_word : std::false_type {};
template <> struct is_word<void> : std::true_type {};
template <class T>
struct is_word<T, std::enable_if_t<!std::is_void_v<T>>>
    : std::bool_constant<std::is_trivially_copyable_v<T> &&
                         sizeof(T) <= sizeof(void *) &&
                         alignof(T) <= alignof(void *)> {};
template <class T> constexpr bool is_word_v = is_word<T>::value;

template <class T> inline void *to_word(const T &v) noexcept {
    void *w = nullptr;
    std::memcpy(&w, &v, sizeof(T));
    return w;
}

// A word type's value back from its word. T need not be default
// constructible (a lambda); one that is is copied into a T directly, which
// the compiler keeps in a register (through the byte buffer it goes
// through the stack).
template <class T> struct from_word {
    alignas(T) unsigned char bytes[sizeof(T)];
    explicit from_word(void *w) noexcept { std::memcpy(bytes, &w, sizeof(T)); }
    T &get() noexcept { return *std::launder(reinterpret_cast<T *>(bytes)); }
};
template <class T> inline T word_value(void *w) noexcept {
    if constexpr (std::is_default_constructible_v<T>) {
        T v;
        std::memcpy(static_cast<void *>(&v), &w, sizeof(T));
        return v;
    } else {
        return from_word<T>(w).get();
    }
}

// What a resume passes to the body when Yield is not a word type: the
// input (its word, or its address) and where to construct the body's
// yielded or returned value (the resumer's result storage).
struct message {
    void *input;
    void *output;
};

// The frame record of a coroutine started at construction (case (b) in
// the manual, and a word Yield with a non-word Return).
struct eager_slot {
    enum : int { waiting, cancel, started } state = waiting;
    void *output = nullptr; // where the final resume wants the Return
};

struct access; // the entry functions' key to yielder and result internals

template <class Input, class Yield, class Return, class F, bool ByArg,
          bool Eager>
void *entry(corolink_yielder *cy, void *input, void *arg);

} // namespace detail

// ---------------------------------------------------------------------------
// result
// ---------------------------------------------------------------------------

namespace detail {

template <class Y, class R,
          bool Trivial = std::is_trivially_copyable_v<value_t<Y>> &&
                         std::is_trivially_copyable_v<value_t<R>> &&
                         std::is_trivially_destructible_v<value_t<Y>> &&
                         std::is_trivially_destructible_v<value_t<R>>>
struct result_base {
    // Zeroed while empty: a trivially copyable result is copied whole.
    union {
        unsigned char none_[sizeof(value_t<Y>) > sizeof(value_t<R>)
                                ? sizeof(value_t<Y>)
                                : sizeof(value_t<R>)];
        value_t<Y> yield_;
        value_t<R> return_;
    };
    int status_;
    result_base() noexcept : none_{}, status_(0) {}
    void reset() noexcept { status_ = 0; }
};

template <class Y, class R> struct result_base<Y, R, false> {
    union {
        value_t<Y> yield_;
        value_t<R> return_;
    };
    int status_;
    result_base() noexcept : status_(0) {}
    result_base(result_base &&o) noexcept(
        std::is_nothrow_move_constructible_v<value_t<Y>> &&
        std::is_nothrow_move_constructible_v<value_t<R>>)
        : status_(0) {
        take(std::move(o));
    }
    result_base &operator=(result_base &&o) noexcept(
        std::is_nothrow_move_constructible_v<value_t<Y>> &&
        std::is_nothrow_move_constructible_v<value_t<R>>) {
        if (this != &o) {
            reset();
            take(std::move(o));
        }
        return *this;
    }
    ~result_base() { reset(); }
    void reset() noexcept {
        if (status_ == COROLINK_YIELD)
            yield_.~value_t<Y>();
        else if (status_ == COROLINK_RETURN)
            return_.~value_t<R>();
        status_ = 0;
    }

  private:
    void take(result_base &&o) {
        if (o.status_ == COROLINK_YIELD)
            ::new (static_cast<void *>(&yield_)) value_t<Y>(std::move(o.yield_));
        else if (o.status_ == COROLINK_RETURN)
            ::new (static_cast<void *>(&return_))
                value_t<R>(std::move(o.return_));
        status_ = o.status_;
    }
};

} // namespace detail

// What resume() returns: the value the body yielded (is_yield()), the value
// it returned (is_return(); the coroutine is then done), or nothing because
// the body trapped (is_trap(); see "Exceptions and errors"). A result from
// a non-throwing overload that failed, a default-constructed one and one
// that was reset() hold nothing and answer false to all three; status()
// tells them apart.
//
// The value lives inside the result (constructed there by the body: see
// "Overview"). A result is movable; it is copyable when both types are
// trivially copyable. Accessing the value it does not hold throws
// corolink_cpp::error with COROLINK_EINVAL.
template <class Yield, class Return>
class result : private detail::result_base<Yield, Return> {
    using base = detail::result_base<Yield, Return>;
    friend struct detail::access;
    template <class, class, class> friend class coroutine;
    template <class> friend class generator;

  public:
    using yield_type = Yield;
    using return_type = Return;

    // An empty result (status() 0).
    result() noexcept = default;

    // True if the body suspended with a value (the coroutine is suspended).
    bool is_yield() const noexcept { return this->status_ == COROLINK_YIELD; }
    // True if the body returned (the coroutine is done).
    bool is_return() const noexcept { return this->status_ == COROLINK_RETURN; }
    // True if the body trapped (the coroutine is done; see
    // coroutine::trap_info()).
    bool is_trap() const noexcept { return this->status_ == COROLINK_TRAP; }

    // COROLINK_YIELD, COROLINK_RETURN or COROLINK_TRAP; the negative error
    // code of a failed non-throwing resume(); 0 for an empty result.
    int status() const noexcept { return this->status_; }

    // The yielded value (not for a void Yield), and the returned value (not
    // for a void Return); as lvalues, const lvalues, or rvalues of an rvalue
    // result (std::move(r).return_value() moves the value out).
    template <class Y = Yield, class = std::enable_if_t<!std::is_void_v<Y>>>
    Y &yield_value() & { return held<COROLINK_YIELD>(this->yield_); }
    template <class R = Return, class = std::enable_if_t<!std::is_void_v<R>>>
    R &return_value() & { return held<COROLINK_RETURN>(this->return_); }
    template <class Y = Yield, class = std::enable_if_t<!std::is_void_v<Y>>>
    const Y &yield_value() const & { return held<COROLINK_YIELD>(this->yield_); }
    template <class R = Return, class = std::enable_if_t<!std::is_void_v<R>>>
    const R &return_value() const & {
        return held<COROLINK_RETURN>(this->return_);
    }
    template <class Y = Yield, class = std::enable_if_t<!std::is_void_v<Y>>>
    Y &&yield_value() && { return std::move(held<COROLINK_YIELD>(this->yield_)); }
    template <class R = Return, class = std::enable_if_t<!std::is_void_v<R>>>
    R &&return_value() && {
        return std::move(held<COROLINK_RETURN>(this->return_));
    }

    // Destroys the value held, if any; the result is then empty.
    void reset() noexcept { base::reset(); }

  private:
    // v, if the result holds that value (status Want).
    template <int Want, class V> V &held(V &v) const {
        if (__builtin_expect(this->status_ != Want, 0))
            detail::throw_error(COROLINK_EINVAL,
                                Want == COROLINK_YIELD
                                    ? "corolink_cpp::result::yield_value"
                                    : "corolink_cpp::result::return_value");
        return v;
    }
    void *storage() noexcept { return static_cast<void *>(&this->yield_); }
};

// ---------------------------------------------------------------------------
// yielder
// ---------------------------------------------------------------------------

// What the body gets as its first parameter: suspends the coroutine and
// runs code on the resumer's stack. It lives in the coroutine's entry frame
// and is valid only on the coroutine's own stack while the coroutine runs
// (like the C API's corolink_yielder); it can be neither copied nor moved.
template <class Input, class Yield> class yielder {
    static_assert(!std::is_reference_v<Input> && !std::is_reference_v<Yield>,
                  "corolink: Input and Yield are object types or void");
    friend struct detail::access;
    // Whether resumes pass a detail::message (Yield is not a word type).
    static constexpr bool kMessage = !detail::is_word_v<Yield>;

  public:
    using input_type = Input;
    using yield_type = Yield;

    yielder(const yielder &) = delete;
    yielder &operator=(const yielder &) = delete;

    // Suspends the coroutine: its resumer's resume() returns a result with
    // is_yield() holding `value` (moved, or copied from an lvalue, into the
    // result). Returns the next resume()'s input (moved from it). Not for a
    // void Yield: use suspend() without an argument.
    template <class Y = Yield, class = std::enable_if_t<!std::is_void_v<Y>>>
    Input suspend(detail::value_t<Y> &&value) {
        return suspend_with(std::move(value));
    }
    template <class Y = Yield, class = std::enable_if_t<!std::is_void_v<Y>>>
    Input suspend(const detail::value_t<Y> &value) {
        return suspend_with(value);
    }
    // For a void Yield.
    template <class Y = Yield, class = std::enable_if_t<std::is_void_v<Y>>>
    Input suspend() {
        return take(corolink_suspend(y_, nullptr));
    }

    // Calls f() on the stack of the coroutine's current resumer (below its
    // frame, which waits in resume()) and returns what f returns (any type,
    // void and references included): for work that needs more stack than
    // the coroutine has. corolink_on_parent_stack() underneath: f must not
    // suspend the coroutine; an exception thrown by f comes out of this
    // call; backtraces inside f lead back into the coroutine.
    template <class F> std::invoke_result_t<F &> on_parent_stack(F &&f);

    // The C API's yielder, and the coroutine this yielder belongs to.
    corolink_yielder *native() const noexcept { return y_; }
    corolink *native_coroutine() const noexcept {
        return corolink_from_yielder(y_);
    }

  private:
    explicit yielder(corolink_yielder *y) noexcept : y_(y) {}

    template <class V> Input suspend_with(V &&value) {
        void *w = nullptr;
        if constexpr (kMessage)
            ::new (m_->output) Yield(std::forward<V>(value));
        else
            w = detail::to_word<Yield>(value);
        return take(corolink_suspend(y_, w));
    }

    // Decodes what a resume passed in (the body's input, or what a suspend
    // returns).
    Input take(void *in) {
        if constexpr (kMessage) {
            m_ = static_cast<detail::message *>(in);
            in = m_->input;
        }
        if constexpr (std::is_void_v<Input>) {
            (void)in;
            return;
        } else if constexpr (detail::is_word_v<Input>) {
            return detail::word_value<Input>(in);
        } else {
            return std::move(*static_cast<Input *>(in));
        }
    }

    corolink_yielder *y_;
    // The last resume's message (kMessage only).
    std::conditional_t<kMessage, detail::message *, detail::unit> m_{};
};

namespace detail {

// Runs f and keeps what it returned, for the functions that call f on
// another stack through the C API (which passes only void *).
template <class F, class R = std::invoke_result_t<F &>> struct call_box {
    explicit call_box(F *fn) noexcept : f(fn) {}
    F *f;
    alignas(R) unsigned char bytes[sizeof(R)];
    static void *run(void *arg) {
        auto *b = static_cast<call_box *>(arg);
        ::new (static_cast<void *>(b->bytes)) R(std::invoke(*b->f));
        return nullptr;
    }
    R take() {
        R *p = std::launder(reinterpret_cast<R *>(bytes));
        struct destroy {
            R *p;
            ~destroy() { p->~R(); }
        } d{p};
        return std::move(*p);
    }
};
template <class F> struct call_box<F, void> {
    explicit call_box(F *fn) noexcept : f(fn) {}
    F *f;
    static void *run(void *arg) {
        std::invoke(*static_cast<call_box *>(arg)->f);
        return nullptr;
    }
    void take() {}
};
template <class F, class R> struct call_box<F, R &> {
    explicit call_box(F *fn) noexcept : f(fn) {}
    F *f;
    R *p = nullptr;
    static void *run(void *arg) {
        auto *b = static_cast<call_box *>(arg);
        b->p = std::addressof(std::invoke(*b->f));
        return nullptr;
    }
    R &take() { return *p; }
};
template <class F, class R> struct call_box<F, R &&> {
    explicit call_box(F *fn) noexcept : f(fn) {}
    F *f;
    R *p = nullptr;
    static void *run(void *arg) {
        auto *b = static_cast<call_box *>(arg);
        R &&r = std::invoke(*b->f);
        b->p = std::addressof(r);
        return nullptr;
    }
    R &&take() { return std::move(*p); }
};

} // namespace detail

template <class Input, class Yield>
template <class F>
std::invoke_result_t<F &> yielder<Input, Yield>::on_parent_stack(F &&f) {
    detail::call_box<std::remove_reference_t<F>> box(std::addressof(f));
    corolink_on_parent_stack(y_, &decltype(box)::run, &box);
    return box.take();
}

// Calls f() on `stack` (from its base down; no coroutine involved) and
// returns what f returns (any type). corolink_on_stack() underneath: an
// exception thrown by f comes out of this call; an error of the C API
// (COROLINK_EINVAL, COROLINK_ESTACK for fewer than COROLINK_STACK_MIN_USABLE
// bytes) throws corolink_cpp::error before f runs.
template <class F>
std::invoke_result_t<F &> on_stack(const corolink_stack &stack, F &&f) {
    detail::call_box<std::remove_reference_t<F>> box(std::addressof(f));
    int rc = corolink_on_stack(&stack, &decltype(box)::run, &box, nullptr);
    if (rc < 0)
        detail::throw_error(rc, "corolink_cpp::on_stack");
    return box.take();
}

// ---------------------------------------------------------------------------
// stack
// ---------------------------------------------------------------------------

// A stack mapped by corolink_stack_alloc() (usable size rounded up to pages,
// a guard page below; 0: COROLINK_STACK_DEFAULT_SIZE) and unmapped by the
// destructor: for coroutines on a stack of the caller's (a coroutine
// constructed with it uses it until the coroutine is destroyed, which must
// happen first) and for on_stack(). Converts to the corolink_stack it
// describes. Move-only.
class stack {
  public:
    // Throws corolink_cpp::error (COROLINK_ESTACK below COROLINK_STACK_MIN_SIZE,
    // COROLINK_ENOMEM, COROLINK_ENOTSUP).
    explicit stack(std::size_t size = 0) {
        int rc = corolink_stack_alloc(&s_, size);
        if (rc < 0)
            detail::throw_error(rc, "corolink_cpp::stack");
    }
    // The same, setting ec instead of throwing (the stack is then empty:
    // its base is NULL).
    stack(std::size_t size, std::error_code &ec) noexcept {
        int rc = corolink_stack_alloc(&s_, size);
        if (rc < 0)
            s_ = corolink_stack{};
        detail::set_error(ec, rc);
    }
    stack(stack &&o) noexcept : s_(o.s_) { o.s_ = corolink_stack{}; }
    stack &operator=(stack &&o) noexcept {
        if (this != &o) {
            corolink_stack_free(&s_);
            s_ = o.s_;
            o.s_ = corolink_stack{};
        }
        return *this;
    }
    ~stack() { corolink_stack_free(&s_); }

    const corolink_stack &get() const noexcept { return s_; }
    operator const corolink_stack &() const noexcept { return s_; }
    // Usable bytes, [limit, base).
    std::size_t size() const noexcept {
        return static_cast<std::size_t>(static_cast<char *>(s_.base) -
                                        static_cast<char *>(s_.limit));
    }

  private:
    corolink_stack s_{};
};

// ---------------------------------------------------------------------------
// coroutine
// ---------------------------------------------------------------------------

// A coroutine whose body is called as body(yielder<Input, Yield> &, Input)
// (body(yielder &) for a void Input) and returns Return. Move-only; owns
// the C coroutine (native()) and destroys it in its destructor (see
// "Exceptions and errors" for a suspended one). A default-constructed or
// moved-from coroutine is empty: its resume() fails with COROLINK_EINVAL.
template <class Input, class Yield, class Return> class coroutine {
    static_assert(!std::is_reference_v<Input> && !std::is_reference_v<Yield> &&
                      !std::is_reference_v<Return>,
                  "corolink: Input, Yield and Return are object types or void");
    template <class> friend class generator;
    friend struct detail::access;

    static constexpr bool kMessage = !detail::is_word_v<Yield>;
    // A word Yield with a non-word Return: the Return's destination goes
    // through the entry frame's eager_slot.
    static constexpr bool kSlotOutput =
        !kMessage && !detail::is_word_v<Return>;

    template <class F>
    static constexpr bool is_body_v =
        !std::is_same_v<std::decay_t<F>, coroutine> &&
        std::conditional_t<
            std::is_void_v<Input>,
            std::is_invocable_r<Return, std::decay_t<F> &,
                                yielder<Input, Yield> &>,
            std::is_invocable_r<Return, std::decay_t<F> &,
                                yielder<Input, Yield> &, Input>>::value;

  public:
    using input_type = Input;
    using yield_type = Yield;
    using return_type = Return;
    using yielder_type = yielder<Input, Yield>;
    using result_type = result<Yield, Return>;

    // An empty coroutine.
    coroutine() noexcept = default;

    // A coroutine running f on a stack of `stack_size` bytes from the
    // calling thread's pool (corolink_create(): 0 is
    // COROLINK_STACK_DEFAULT_SIZE; sizes round up to pages; guard page
    // below). f is moved (copied if an lvalue) onto the coroutine's stack
    // (see "Where the callable lives"). Throws corolink_cpp::error
    // (COROLINK_ESTACK, COROLINK_ENOMEM, COROLINK_ENOTSUP) or what f's move
    // constructor throws.
    template <class F, class = std::enable_if_t<is_body_v<F>>>
    explicit coroutine(F &&f, std::size_t stack_size = 0)
        : coroutine(create(std::forward<F>(f), stack_size, nullptr), nullptr) {}
    // A coroutine running f on a stack the caller owns (corolink_create_on():
    // the control block at its top; it must outlive the coroutine; a
    // corolink_cpp::stack converts). Throws corolink_cpp::error (COROLINK_EINVAL,
    // COROLINK_ESTACK).
    template <class F, class = std::enable_if_t<is_body_v<F>>>
    coroutine(F &&f, const corolink_stack &stack)
        : coroutine(create(std::forward<F>(f), 0, &stack), nullptr) {}
    // The same three, setting ec instead of throwing corolink_cpp::error (the
    // coroutine is then empty). A trap while the callable is moved onto
    // the stack (case (b)) is reported as COROLINK_TRAP.
    template <class F, class = std::enable_if_t<is_body_v<F>>>
    coroutine(F &&f, std::error_code &ec)
        : coroutine(create(std::forward<F>(f), 0, nullptr), &ec) {}
    template <class F, class = std::enable_if_t<is_body_v<F>>>
    coroutine(F &&f, std::size_t stack_size, std::error_code &ec)
        : coroutine(create(std::forward<F>(f), stack_size, nullptr), &ec) {}
    template <class F, class = std::enable_if_t<is_body_v<F>>>
    coroutine(F &&f, const corolink_stack &stack, std::error_code &ec)
        : coroutine(create(std::forward<F>(f), 0, &stack), &ec) {}

    coroutine(coroutine &&o) noexcept : co_(o.co_), slot_(o.slot_) {
        o.co_ = nullptr;
        o.slot_ = nullptr;
    }
    coroutine &operator=(coroutine &&o) noexcept(false) {
        if (this != &o) {
            corolink *co = co_;
            detail::eager_slot *slot = slot_;
            co_ = o.co_;
            slot_ = o.slot_;
            o.co_ = nullptr;
            o.slot_ = nullptr;
            release(co, slot);
        }
        return *this;
    }
    coroutine(const coroutine &) = delete;
    coroutine &operator=(const coroutine &) = delete;

    // Destroys the coroutine: a suspended one is unwound first (its frames'
    // destructors and the callable's run; an exception thrown while it is
    // unwound propagates, as from corolink_destroy(), hence
    // noexcept(false)); see "Exceptions and errors" for builds with
    // COROLINK_UNWIND=OFF. Destroying a running coroutine is fatal (the C
    // API aborts).
    ~coroutine() noexcept(false) { release(co_, slot_); }

    // Resumes the coroutine with `input`: starts the body with it the first
    // time, or makes the pending suspend() return it. Returns what the body
    // did (see result). An exception that leaves the body comes out of
    // here (the coroutine is then done). Throws corolink_cpp::error for the C
    // API's errors: COROLINK_EDONE (done), COROLINK_ERUNNING (resuming
    // itself or one of its resumers), COROLINK_EINVAL (empty),
    // COROLINK_ENOTSUP (see corolink_resume()).
    template <class I = Input, class = std::enable_if_t<!std::is_void_v<I>>>
    result_type resume(detail::value_t<I> input) {
        result_type r;
        int rc = resume_into(r, &input);
        if (__builtin_expect(rc < 0, 0))
            detail::throw_error(rc, "corolink_cpp::coroutine::resume");
        return r;
    }
    // For a void Input.
    template <class I = Input, class = std::enable_if_t<std::is_void_v<I>>>
    result_type resume() {
        result_type r;
        int rc = resume_into(r, nullptr);
        if (__builtin_expect(rc < 0, 0))
            detail::throw_error(rc, "corolink_cpp::coroutine::resume");
        return r;
    }
    // The same two, setting ec (cleared on success) instead of throwing
    // corolink_cpp::error; on an error the result holds nothing and its status()
    // is the error code. The body's exceptions still propagate.
    template <class I = Input, class = std::enable_if_t<!std::is_void_v<I>>>
    result_type resume(detail::value_t<I> input, std::error_code &ec) {
        result_type r;
        detail::set_error(ec, resume_into(r, &input));
        return r;
    }
    template <class I = Input, class = std::enable_if_t<std::is_void_v<I>>>
    result_type resume(std::error_code &ec) {
        result_type r;
        detail::set_error(ec, resume_into(r, nullptr));
        return r;
    }

    // Resumes the coroutine like resume(), but first calls f() on the
    // coroutine's own stack, on top of its pending suspend() (as if that
    // suspend() had called it): what f returns (an Input; nothing for a void
    // Input) is what the pending suspend() returns in the body. On a
    // coroutine that has not started, f runs first and its result is the
    // body's input. An exception thrown by f comes out of the pending
    // suspend() inside the body (which may catch it there: the way to
    // cancel a coroutine at its suspension point); uncaught, it finishes
    // the coroutine and comes out of here. If the coroutine had not
    // started, the body never runs: the exception finishes it and comes
    // out of here. f must not suspend the coroutine (the C function allows
    // it; here f's result lives in this call's frame). Backtraces inside f
    // show f, the body's frames from its suspension point, then the
    // resumer. corolink_resume_with() underneath: the library's out-of-line
    // switch. Throws corolink_cpp::error as resume() does.
    template <class F> result_type resume_with(F &&f);

    // True once resume() or resume_with() was called (the C++ notion: a
    // coroutine started at construction, see "Where the callable lives",
    // counts as started only then). False for an empty coroutine.
    bool started() const noexcept {
        if (slot_ != nullptr && !corolink_done(co_))
            return slot_->state == detail::eager_slot::started;
        return corolink_started(co_);
    }
    // True once the body returned, threw, trapped or was unwound (or after
    // force_reset()). False for an empty coroutine.
    bool done() const noexcept { return co_ != nullptr && corolink_done(co_); }
    // False for an empty coroutine.
    explicit operator bool() const noexcept { return co_ != nullptr; }

    // If the coroutine finished by a trap, what happened; otherwise throws
    // corolink_cpp::error (COROLINK_ENOTRAP, or COROLINK_EINVAL if empty).
    corolink_trap trap_info() const {
        corolink_trap t{};
        int rc = corolink_trap_info(co_, &t);
        if (rc < 0)
            detail::throw_error(rc, "corolink_cpp::coroutine::trap_info");
        return t;
    }

    // Marks the coroutine finished without running or unwinding anything on
    // its stack (corolink_force_reset(): the callable and the frames'
    // objects are leaked), so that destroying it needs no unwinder. Throws
    // corolink_cpp::error (COROLINK_ERUNNING, COROLINK_EINVAL if empty).
    void force_reset() {
        int rc = corolink_force_reset(co_);
        if (rc < 0)
            detail::throw_error(rc, "corolink_cpp::coroutine::force_reset");
    }

    // The C coroutine (for corolink_id(), corolink_set_name(),
    // corolink_backtrace(), ...; do not resume or destroy it through the C
    // API), or NULL for an empty coroutine.
    corolink *native() const noexcept { return co_; }

  private:
    // What create() made: the members' values, or the error (rc < 0).
    struct created {
        corolink *co;
        detail::eager_slot *slot;
        int rc;
    };
    template <class F>
    static created create(F &&f, std::size_t stack_size,
                          const corolink_stack *stack);
    // The constructors' common end: throws corolink_cpp::error for an error,
    // or sets *ec if ec is not NULL.
    coroutine(created c, std::error_code *ec)
        : co_(c.co), slot_(c.slot) { // both NULL after an error
        if (ec != nullptr)
            detail::set_error(*ec, c.rc);
        else if (c.rc < 0)
            detail::throw_error(c.rc, "corolink_cpp::coroutine");
    }
    int resume_into(result_type &r, detail::value_t<Input> *input);
    void *aim_slot(result_type &r) noexcept;
    void land(result_type &r, int rc, void *out, void *prev) noexcept;
    // Destroys a coroutine (the destructor's work; co may be NULL).
    static void release(corolink *co, detail::eager_slot *slot);

    corolink *co_ = nullptr;
    // The entry frame's slot of a coroutine started at construction, else
    // NULL. Valid while the coroutine is not done.
    detail::eager_slot *slot_ = nullptr;
};

namespace detail {

struct access {
    template <class I, class Y>
    static yielder<I, Y> make_yielder(corolink_yielder *y) noexcept {
        return yielder<I, Y>(y);
    }
    template <class I, class Y>
    static auto take(yielder<I, Y> &y, void *in) {
        return y.take(in);
    }
    template <class I, class Y>
    static void *output(yielder<I, Y> &y) noexcept {
        return y.m_->output;
    }
};

// Runs the body with the first input and hands out its return value (see
// "Overview").
template <class Input, class Yield, class Return, class D>
inline void *run_body(D &f, yielder<Input, Yield> &y, void *input,
                      eager_slot *slot) {
    // A direct call rather than std::invoke: the input's prvalue then
    // initialises the body's parameter without another move.
    auto call = [&]() -> Return {
        if constexpr (std::is_void_v<Input>) {
            access::take(y, input);
            return f(y);
        } else {
            return f(y, access::take(y, input));
        }
    };
    if constexpr (std::is_void_v<Return>) {
        (void)slot;
        call();
        return nullptr;
    } else if constexpr (is_word_v<Return>) {
        (void)slot;
        return to_word<Return>(call());
    } else {
        Return value = call();
        void *out;
        if constexpr (!is_word_v<Yield>) {
            (void)slot;
            out = access::output(y);
        } else {
            out = slot->output;
        }
        ::new (out) Return(std::move(value));
        return nullptr;
    }
}

// The coroutine's entry function (the C body): rebuilds or takes over the
// callable into its own frame, then runs it. ByArg: the callable is in
// `arg` (case (a)); otherwise `input` points at it (case (b)). Eager: the
// coroutine was started at construction and this suspends once, handing
// out its eager_slot, before the first user resume.
// A coroutine started at construction: suspends back to the constructor
// with the frame's eager_slot, then runs the body unless the destructor
// cancelled it (f, in the caller's frame, is destroyed when that returns).
template <class Input, class Yield, class Return, class D>
void *run_eager(D &f, yielder<Input, Yield> &y, corolink_yielder *cy) {
    eager_slot slot;
    void *input = corolink_suspend(cy, &slot);
    if (slot.state == eager_slot::cancel)
        return nullptr;
    slot.state = eager_slot::started;
    return run_body<Input, Yield, Return>(f, y, input, &slot);
}

template <class Input, class Yield, class Return, class F, bool ByArg,
          bool Eager>
void *entry(corolink_yielder *cy, void *input, void *arg) {
    using D = std::decay_t<F>;
    yielder<Input, Yield> y = access::make_yielder<Input, Yield>(cy);
    if constexpr (ByArg) {
        D f = word_value<D>(arg);
        if constexpr (Eager)
            return run_eager<Input, Yield, Return>(f, y, cy);
        else
            return run_body<Input, Yield, Return>(f, y, input, nullptr);
    } else {
        static_assert(Eager, "a callable passed by address starts eagerly");
        (void)arg;
        D f(std::forward<F>(*static_cast<std::remove_reference_t<F> *>(input)));
        return run_eager<Input, Yield, Return>(f, y, cy);
    }
}

} // namespace detail

template <class Input, class Yield, class Return>
template <class F>
typename coroutine<Input, Yield, Return>::created
coroutine<Input, Yield, Return>::create(F &&f, std::size_t stack_size,
                                        const corolink_stack *stack) {
    using D = std::decay_t<F>;
    constexpr bool by_arg = detail::is_word_v<D> &&
                            std::is_trivially_destructible_v<D>;
    constexpr bool eager = !by_arg || kSlotOutput;
    corolink_fn fn = &detail::entry<Input, Yield, Return, F, by_arg, eager>;
    void *arg = nullptr;
    if constexpr (by_arg)
        arg = detail::to_word<D>(f);
    corolink *co; // set by a create that succeeds
    int rc = stack != nullptr ? corolink_create_on(&co, stack, fn, arg)
                              : corolink_create(&co, fn, arg, stack_size);
    if (rc < 0)
        return {nullptr, nullptr, rc};
    if constexpr (!eager) {
        return {co, nullptr, 0};
    } else {
        void *input = nullptr;
        if constexpr (!by_arg)
            input = const_cast<void *>(
                static_cast<const volatile void *>(std::addressof(f)));
        void *out = nullptr;
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
        try {
            rc = corolink_resume(co, input, &out);
        } catch (...) {
            corolink_destroy(co);
            throw;
        }
#else
        rc = corolink_resume(co, input, &out);
#endif
        if (rc != COROLINK_YIELD) {
            corolink_destroy(co);
            return {nullptr, nullptr, rc < 0 ? rc : COROLINK_TRAP};
        }
        return {co, static_cast<detail::eager_slot *>(out), 0};
    }
}

template <class Input, class Yield, class Return>
inline int
coroutine<Input, Yield, Return>::resume_into(result_type &r,
                                             detail::value_t<Input> *input) {
    r.reset();
    void *w = nullptr;
    if constexpr (std::is_void_v<Input>)
        (void)input;
    else if constexpr (detail::is_word_v<Input>)
        w = detail::to_word<Input>(*input);
    else
        w = input;
    detail::message m;
    if constexpr (kMessage) {
        m.input = w;
        m.output = r.storage();
        w = &m;
    }
    void *prev = aim_slot(r);
    void *out; // corolink_resume() sets it on every path
    int rc = corolink_resume(co_, w, &out);
    land(r, rc, out, prev);
    return rc;
}

template <class Input, class Yield, class Return>
inline void *
coroutine<Input, Yield, Return>::aim_slot(result_type &r) noexcept {
    void *prev = nullptr;
    if constexpr (kSlotOutput) {
        // A done body never reads the slot (its memory stays the
        // coroutine's until it is destroyed); a resume of a running one
        // fails with COROLINK_ERUNNING and land() puts it back.
        if (slot_ != nullptr) {
            prev = slot_->output;
            slot_->output = r.storage();
        }
    }
    (void)r;
    return prev;
}

template <class Input, class Yield, class Return>
inline void coroutine<Input, Yield, Return>::land(result_type &r, int rc,
                                                  void *out,
                                                  void *prev) noexcept {
    if constexpr (!kMessage && detail::is_word_v<Return>) {
        // Both words: out holds the value whatever rc is (NULL after an
        // error or a trap), so it is copied without a test.
        std::memcpy(r.storage(), &out, sizeof(r.none_));
    } else if constexpr (!kMessage) {
        if (rc == COROLINK_YIELD)
            std::memcpy(r.storage(), &out, sizeof(detail::value_t<Yield>));
        else if (rc == COROLINK_ERUNNING)
            slot_->output = prev; // resumed from inside: undo
    } else if constexpr (detail::is_word_v<Return> &&
                         !std::is_void_v<Return>) {
        if (rc == COROLINK_RETURN)
            std::memcpy(r.storage(), &out, sizeof(Return));
    }
    (void)out, (void)prev;
    r.status_ = rc;
}

namespace detail {

// resume_with()'s state in the resumer's frame: f, and the Input it
// returned while the body moves from it.
template <class Input, class F, bool Message> struct with_box {
    F *f;
    message m;
    alignas(value_t<Input>) unsigned char bytes[sizeof(value_t<Input>)];
    bool constructed = false;

    static void *run(void *, void *arg) {
        auto *b = static_cast<with_box *>(arg);
        void *w = nullptr;
        if constexpr (std::is_void_v<Input>) {
            std::invoke(*b->f);
        } else if constexpr (is_word_v<Input>) {
            w = to_word<Input>(std::invoke(*b->f));
        } else {
            ::new (static_cast<void *>(b->bytes)) Input(std::invoke(*b->f));
            b->constructed = true;
            w = b->bytes;
        }
        if constexpr (Message) {
            b->m.input = w;
            return &b->m;
        }
        return w;
    }
    ~with_box() {
        if constexpr (!std::is_void_v<Input> && !is_word_v<Input>)
            if (constructed)
                std::launder(reinterpret_cast<Input *>(bytes))->~Input();
    }
};

} // namespace detail

template <class Input, class Yield, class Return>
template <class F>
typename coroutine<Input, Yield, Return>::result_type
coroutine<Input, Yield, Return>::resume_with(F &&f) {
    result_type r;
    detail::with_box<Input, std::remove_reference_t<F>, kMessage> box{
        std::addressof(f), {nullptr, r.storage()}, {}, false};
    void *prev = aim_slot(r);
    void *out = nullptr;
    int rc = corolink_resume_with(co_, &decltype(box)::run, &box, nullptr,
                                  &out);
    land(r, rc, out, prev);
    if (rc < 0)
        detail::throw_error(rc, "corolink_cpp::coroutine::resume_with");
    return r;
}

template <class Input, class Yield, class Return>
inline void coroutine<Input, Yield, Return>::release(corolink *co,
                                                     detail::eager_slot *slot) {
    if (slot != nullptr && !corolink_done(co) &&
        slot->state == detail::eager_slot::waiting) {
        // Started at construction, never resumed: the entry function
        // returns, destroying the callable, without any unwinding.
        slot->state = detail::eager_slot::cancel;
        corolink_resume(co, nullptr, nullptr);
    }
    corolink_destroy(co);
}

// ---------------------------------------------------------------------------
// generator
// ---------------------------------------------------------------------------

// A coroutine<void, T, void> to iterate over: its body is called as
// body(yielder<void, T> &) and yields the values with suspend(value). Use it
// in a range-for (begin() and end() give input iterators; the first
// begin() starts the body, each ++ resumes it; iteration ends when the body
// returns):
//
//     corolink_cpp::generator<int> squares([](corolink_cpp::yielder<void, int> &y) {
//         for (int i = 1; i <= 3; i++)
//             y.suspend(i * i);
//     });
//     for (int v : squares)
//         std::printf("%d\n", v);   // 1 4 9
//
// The value is constructed inside the generator by suspend() and is valid
// until the next ++. An exception that leaves the body comes out of
// begin() or ++; a trap throws corolink_cpp::error with COROLINK_TRAP. The
// constructors are coroutine's. Move-only. Calling begin() again
// continues where the iteration stopped.
template <class T> class generator {
  public:
    using value_type = T;
    using yielder_type = yielder<void, T>;

    template <class F, class = std::enable_if_t<
                           !std::is_same_v<std::decay_t<F>, generator> &&
                           std::is_invocable_v<std::decay_t<F> &,
                                               yielder<void, T> &>>>
    explicit generator(F &&f, std::size_t stack_size = 0)
        : co_(std::forward<F>(f), stack_size) {}
    template <class F, class = std::enable_if_t<
                           !std::is_same_v<std::decay_t<F>, generator> &&
                           std::is_invocable_v<std::decay_t<F> &,
                                               yielder<void, T> &>>>
    generator(F &&f, const corolink_stack &stack) : co_(std::forward<F>(f), stack) {}

    generator(generator &&) = default;
    generator &operator=(generator &&) = default;

    class iterator {
      public:
        using iterator_category = std::input_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using pointer = T *;
        using reference = T &;

        iterator() noexcept = default;
        T &operator*() const noexcept { return g_->cur_.yield_; }
        T *operator->() const noexcept { return std::addressof(g_->cur_.yield_); }
        iterator &operator++() {
            if (!g_->advance())
                g_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator &a, const iterator &b) noexcept {
            return a.g_ == b.g_;
        }
        friend bool operator!=(const iterator &a, const iterator &b) noexcept {
            return a.g_ != b.g_;
        }

      private:
        friend class generator;
        explicit iterator(generator *g) noexcept : g_(g) {}
        generator *g_ = nullptr; // NULL: the end
    };

    // Starts the body on the first call and returns an iterator at its
    // first value (end() if it yielded none); later calls continue from
    // the current value.
    iterator begin() {
        if (!co_.started() && !advance())
            return iterator();
        return cur_.is_yield() ? iterator(this) : iterator();
    }
    iterator end() noexcept { return iterator(); }

    // The coroutine (for done(), native(), ...).
    const coroutine<void, T, void> &get_coroutine() const noexcept { return co_; }

  private:
    // Resumes the body; true if it yielded a value.
    bool advance() {
        int rc = co_.resume_into(cur_, nullptr);
        if (__builtin_expect(rc == COROLINK_YIELD, 1))
            return true;
        if (rc == COROLINK_RETURN)
            return false;
        detail::throw_error(rc < 0 ? rc : COROLINK_TRAP,
                            "corolink_cpp::generator");
    }

    coroutine<void, T, void> co_;
    result<T, void> cur_;
};

} // namespace corolink_cpp

#endif /* COROLINK_HPP */

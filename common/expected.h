// A value or an error, for C++17 (no std::expected yet).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace signalbin {

template <typename T, typename E = std::string>
class Expected {
public:
    Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    static Expected failure(E error) { return Expected(std::in_place_index<1>, std::move(error)); }

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    const E& error() const { return std::get<1>(v_); }

private:
    template <std::size_t I, typename V>
    Expected(std::in_place_index_t<I> i, V&& v) : v_(i, std::forward<V>(v)) {}
    std::variant<T, E> v_;
};

} // namespace signalbin

// std::visit with one lambda per alternative: std::visit(Overloaded {...}, v).
#pragma once

namespace signalbin {

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

} // namespace signalbin

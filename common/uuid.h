// A random UUID string, for peer and session ids.
#pragma once

#include "glib-ptr.h"

#include <string>

namespace signalbin {

inline std::string random_uuid()
{
    GCharPtr uuid(g_uuid_string_random());
    return uuid.get();
}

} // namespace signalbin

#include "signaller.h"

#include "http-signaller.h"
#include "ws-signaller.h"

namespace signalbin {

Signaller::Signaller(Options options, Callbacks callbacks, const char* thread_name)
    : options_(std::move(options)), callbacks_(std::move(callbacks)), thread_(thread_name)
{
}

Signaller::~Signaller()
{
    thread_.stop();
}

std::shared_ptr<Signaller> Signaller::create(Options options, Callbacks callbacks)
{
    if (!options.whip_endpoint.empty())
        return std::make_shared<HttpSignaller>(HttpSignaller::Mode::Whip, std::move(options), std::move(callbacks));
    if (!options.whep_endpoint.empty())
        return std::make_shared<HttpSignaller>(HttpSignaller::Mode::Whep, std::move(options), std::move(callbacks));
    return std::make_shared<WsSignaller>(std::move(options), std::move(callbacks));
}

} // namespace signalbin

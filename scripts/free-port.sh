#!/usr/bin/env bash
# free-port.sh - print a TCP port on 127.0.0.1 that nobody listens on now.
exec node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"

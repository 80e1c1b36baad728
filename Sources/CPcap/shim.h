#ifndef RMQ_CPCAP_SHIM_H
#define RMQ_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <stdio.h>
#endif

; REP INSB and REP INSW: one exit each carrying the count; the client's
; bytes land at ES:RDI. SDM Vol. 2A, INS; api.rst KVM_EXIT_IO.
; mode: long
; io-in: port=0x60 data=de ad be ef
; io-in: port=0x64 data=01 02 03 04 05 06
; expect-io: in port=0x60 size=1 count=4
; expect-io: in port=0x64 size=2 count=3
; expect: rcx=0 rdi=0x2000e
; expect-mem: 0x20000 = de ad be ef
; expect-mem: 0x20008 = 01 02 03 04 05 06
; expect-exit: hlt
bits 64
org 0x10000
  cld
  mov edi, 0x20000
  mov ecx, 4
  mov dx, 0x60
  rep insb
  mov edi, 0x20008
  mov ecx, 3
  mov dx, 0x64
  rep insw
  hlt

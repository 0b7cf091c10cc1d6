; Port I/O in real mode: OUT imm8/AL, OUT DX/AX, IN AL (the value fed back
; on re-entry), then a debug-exit style OUT of the value read.
; SDM Vol. 2A, IN; Vol. 2B, OUT.
; mode: real
; io-in: port=0x71 data=5a
; expect-io: out port=0x70 size=1 count=1 data=8f
; expect-io: in port=0x71 size=1 count=1
; expect-io: out port=0x402 size=2 count=1 data=5a 12
; expect: rax=0x125a
; expect-exit: hlt
bits 16
org 0x7c00
  mov al, 0x8f
  out 0x70, al
  mov ax, 0x1200
  in al, 0x71
  mov dx, 0x402
  out dx, ax
  hlt

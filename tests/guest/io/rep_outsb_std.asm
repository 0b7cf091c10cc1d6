; REP OUTSB with DF=1 walks the string backwards: "abc" goes out as c, b,
; a (one exit per element, as in rep_outsb.asm) and SI ends one below the
; string. SDM Vol. 2B, OUTS; Vol. 1, 3.4.3.3 (DF).
; mode: real
; expect-io: out port=0x3f8 size=1 count=1 data=63
; expect-io: out port=0x3f8 size=1 count=1 data=62
; expect-io: out port=0x3f8 size=1 count=1 data=61
; expect: rcx=0 rax=1
; expect-exit: hlt
bits 16
org 0x7c00
  std
  mov si, text + 2
  mov cx, 3
  mov dx, 0x3f8
  rep outsb
  cld
  xor ax, ax
  cmp si, text - 1
  jne .done
  inc ax
.done:
  hlt
text: db "abc"

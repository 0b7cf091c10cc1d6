; SUB and CMP (CMP leaves its destination alone); flags in r8..r11.
; SDM Vol. 2B, SUB; Vol. 2A, CMP.
; mode: long
; expect: rax=0xff rbx=0x7fffffff rcx=5 rdx=3
; expect: r8=0x97 r9=0x816 r10=0x46 r11=0x887
; expect-exit: hlt
bits 64
org 0x10000
  mov al, 0
  sub al, 1                    ; 0xff: CF SF AF PF
  pushfq
  pop r8
  mov ebx, 0x80000000
  sub ebx, 1                   ; 0x7fffffff: OF AF PF
  pushfq
  pop r9
  mov rcx, 5
  cmp rcx, 5                   ; ZF PF
  pushfq
  pop r10
  mov dx, 3
  cmp dx, 0x8000               ; 0x8003: CF SF OF PF
  pushfq
  pop r11
  hlt
